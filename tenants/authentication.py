"""DRF authentication by `Authorization: ApiKey <secret>`, bound to the request's tenant."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from platform_core.audit import audit_actor
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_authenticate, api_key_from_request


@dataclass(frozen=True)
class ApiClient:
    """The principal of an API-key request."""

    tenant: Tenant
    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    def __str__(self) -> str:
        return f"{self.tenant.slug}:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "ApiKey"

    def authenticate(self, request):
        key = getattr(request._request, "api_key", None)
        if key is None:
            raw = api_key_from_request(request)
            if raw is None:
                return None
            key = api_key_authenticate(raw=raw)
            if key is None:
                raise exceptions.AuthenticationFailed("The API key is invalid.")
        tenant = getattr(request._request, "tenant", None)
        # A key never works for another tenant: on tenant B's host, tenant A's key is invalid.
        if tenant is None or key.tenant_id != tenant.pk:
            raise exceptions.AuthenticationFailed("The API key is invalid.")
        audit_actor(f"api_key:{key.prefix}")
        return ApiClient(tenant=key.tenant, api_key=key), key

    def authenticate_header(self, request):
        return self.keyword
