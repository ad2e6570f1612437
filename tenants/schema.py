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
