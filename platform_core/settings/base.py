"""Core Django settings."""

from .env import BASE_DIR, DATABASE_URL, REDIS_URL, env

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="clarion-development-key-change-me-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)

DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"].update(
    {
        "ENGINE": "platform_core.db_backend",
        # A new connection per request costs ~6x throughput: keep them, health-checked.
        "CONN_MAX_AGE": env.int("DATABASE_CONN_MAX_AGE", default=600),
        "CONN_HEALTH_CHECKS": True,
    }
)
# The test suite's database; set TEST_DATABASE_NAME to run two suites side by side.
DATABASES["default"]["TEST"] = {
    "NAME": env.str("TEST_DATABASE_NAME", default=f"test_{DATABASES['default']['NAME']}")
}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault(
    "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
)
# Django turns psycopg's prepared statements off; the ORM's client-side binding never
# prepares anyway. The delivery moves a send makes per message are prepared explicitly
# (notifications/pipeline/state/sql.py), which needs them on. PgBouncer, if used, must run
# in session mode (docker/README.md), where prepared statements work.
DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        # Every cache key carries the tenant's schema: tenants never share an entry.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "KEY_PREFIX": "clarion",
    }
}

ROOT_URLCONF = "platform_core.urls.tenant"
WSGI_APPLICATION = "platform_core.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MIDDLEWARE = [
    "platform_core.middleware.RequestIdMiddleware",
    "platform_core.middleware.MetricsMiddleware",
    "platform_core.middleware.UrlCharactersMiddleware",
    "platform_core.middleware.OpsEndpointsMiddleware",
    "platform_core.middleware.BodySizeLimitMiddleware",
    "tenants.middleware.TenantMiddleware",
    # After the host has chosen the tenant (its CORS origins), before the API key is asked
    # for: a preflight carries no credentials.
    "corsheaders.middleware.CorsMiddleware",
    "tenants.middleware.ApiKeyTenantMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # From here, platform_core.middleware's browser-only wrappers of Django's and
    # WhiteNoise's middleware: API requests (by key, never by cookie) skip them.
    "platform_core.middleware.WhiteNoiseMiddleware",
    "platform_core.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "platform_core.middleware.CsrfViewMiddleware",
    "platform_core.middleware.AuthenticationMiddleware",
    # After the session's user is known: the actor of audited configuration changes.
    "platform_core.audit.AuditContextMiddleware",
    "platform_core.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The admin shows times to the second with their zone (platform_core/formats).
FORMAT_MODULE_PATH = ["platform_core.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files from the app folders when `collectstatic` has not run (demo, tests).
WHITENOISE_USE_FINDERS = True
