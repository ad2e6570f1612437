"""OpenAPI description of the API-key authentication (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`ApiKey <secret>`, as printed by `create_tenant` or `create_api_key`.",
        }


class SubscriberHashAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "notifications.api.authentication.SubscriberHashAuthentication"
    name = "SubscriberHash"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Subscriber-Hash",
            "description": "hex(HMAC-SHA256(tenant inbox secret, subscriber_id)), inbox only.",
        }


_RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": ("Requests allowed in the current window of this category.", 1200),
    "RateLimit-Remaining": ("Requests left in the current window.", 1187),
    "RateLimit-Reset": ("Seconds until the current window ends.", 42),
}


def rate_limit_headers_hook(result, generator, request, public):
    """Document the API rate limits: `RateLimit-*` headers on every response of an
    authenticated operation, and its 429 `rate_limited` with `Retry-After`."""
    components = result.setdefault("components", {})
    headers = components.setdefault("headers", {})
    for name, (description, example) in _RATE_LIMIT_HEADERS.items():
        headers[name] = {
            "description": description,
            "schema": {"type": "integer", "example": example},
        }
    headers["Retry-After"] = {
        "description": "Seconds until a request of this category is allowed again.",
        "schema": {"type": "integer", "example": 42},
    }
    refs = {name: {"$ref": f"#/components/headers/{name}"} for name in _RATE_LIMIT_HEADERS}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or not operation.get("security"):
                continue
            schemes = {name for entry in operation["security"] for name in entry}
            if not schemes & {"ApiKey", "SubscriberHash"}:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "429",
                {
                    "description": "Rate limited: `rate_limited`; retry after `Retry-After` s.",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorEnvelope"},
                            "example": {
                                "error": {
                                    "code": "rate_limited",
                                    "message": "More than 300 `config` requests in 60 s; "
                                    "retry in 42 s.",
                                }
                            },
                        }
                    },
                },
            )
            for code, response in responses.items():
                response.setdefault("headers", {}).update(refs)
                if code == "429":
                    response["headers"]["Retry-After"] = {
                        "$ref": "#/components/headers/Retry-After"
                    }
    return result
