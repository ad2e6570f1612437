"""Django REST Framework and the OpenAPI schema."""

from .env import REDIS_URL, env

API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=512 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# Objects and arrays nested deeper than this in a JSON body → 400 `too_deep`.
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=50)

# Requests per API key (inbox: per subscriber) and category, `category=limit/seconds` or
# `category=off`; tenants override them in the platform admin. Empty: no limits.
API_RATE_LIMITS = env.str(
    "API_RATE_LIMITS", default="events=6000/60,config=300/60,read=1200/60,inbox=1200/60"
)
# Where the counters live (shared by every web process); default: the cache's Redis.
API_RATE_LIMIT_REDIS_URL = env.str(
    "API_RATE_LIMIT_REDIS_URL", default=env.str("CACHE_URL", default=REDIS_URL)
)
API_RATE_LIMIT_REDIS_TIMEOUT_SECONDS = env.float(
    "API_RATE_LIMIT_REDIS_TIMEOUT_SECONDS", default=0.25
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["platform_core.api.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "platform_core.api.negotiation.Negotiation",
    "DEFAULT_METADATA_CLASS": "platform_core.api.metadata.Metadata",
    "DEFAULT_PAGINATION_CLASS": "platform_core.api.pagination.CursorPagination",
    "PAGE_SIZE": API_PAGE_SIZE,
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.ApiRateLimitThrottle"],
    "EXCEPTION_HANDLER": "platform_core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "platform_core.api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Clarion API",
    "DESCRIPTION": (
        "Multi-tenant notification platform. Authenticate with `Authorization: ApiKey <secret>`; "
        "the tenant comes from the host (`acme.example.com`) or, on the platform host, from the "
        'key. Errors are always `{"error": {"code", "message", "fields"?}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SERVE_URLCONF": "platform_core.urls.tenant",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "platform_core.api.schema.postprocess_errors_and_bounds",
        "tenants.schema.rate_limit_headers_hook",
    ],
    "ENUM_NAME_OVERRIDES": {
        "DeliveryStatusEnum": "notifications.models.DeliveryStatus",
        "NotificationStatusEnum": "notifications.models.NotificationStatus",
        "ChannelEnum": "notifications.models.Channel",
        "PriorityEnum": "notifications.models.Priority",
    },
}
