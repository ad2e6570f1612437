"""Tenant resolution: by host (django-tenants), or on the platform host by API key.

Both read the database before any view runs: an outage there answers 503
`service_unavailable` in the JSON envelope, like one inside a view.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.urls import set_urlconf
from django_tenants.middleware.main import TenantMainMiddleware

from platform_core.api.errors import error_response, outage_response
from platform_core.errors import OUTAGE_ERRORS
from platform_core.middleware import API_PREFIX
from platform_core.observability import tenant_var
from tenants import cache
from tenants.selectors import tenant_get_public
from tenants.services import api_key_authenticate, api_key_from_request


class TenantMiddleware(TenantMainMiddleware):
    """django-tenants' host resolution, with JSON errors and the platform's own hosts."""

    def process_request(self, request):
        try:
            request.get_host()
        except DisallowedHost:
            return error_response(400, "disallowed_host", "This host is not served here.")
        try:
            response = super().process_request(request)
        except OUTAGE_ERRORS as exc:
            return outage_response(exc, request)
        if response is None:
            tenant_var.set(request.tenant.slug)
        return response

    @staticmethod
    def hostname_from_request(request):
        # Host names are case-insensitive (RFC 4343): `ACME.localhost` is `acme.localhost`.
        return TenantMainMiddleware.hostname_from_request(request).lower()

    def get_tenant(self, domain_model, hostname):
        tenant = cache.cached("host", hostname, lambda: self._tenant_of(domain_model, hostname))
        if tenant is None:
            raise domain_model.DoesNotExist
        return tenant

    def _tenant_of(self, domain_model, hostname):
        """The active tenant served at `hostname`, or None."""
        if hostname in {host.lower() for host in settings.CLARION_PUBLIC_HOSTS}:
            return tenant_get_public()
        try:
            tenant = super().get_tenant(domain_model, hostname)
        except domain_model.DoesNotExist:
            # A domain stored with capitals: matched regardless of case (a scan of a small
            # table, only for hosts the unique index does not find).
            domain = (
                domain_model.objects.select_related("tenant")
                .filter(domain__iexact=hostname)
                .order_by("pk")
                .first()
            )
            if domain is None:
                return None
            tenant = domain.tenant
        return tenant if tenant.is_active else None

    def no_tenant_found(self, request, hostname):
        return error_response(404, "unknown_tenant", f"No tenant is served at '{hostname}'.")


class ApiKeyTenantMiddleware:
    """On a platform host, an API request's tenant is the one its key belongs to."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tenant = getattr(request, "tenant", None)
        if tenant is not None and tenant.is_public and request.path.startswith(API_PREFIX):
            raw = api_key_from_request(request)
            try:
                key = api_key_authenticate(raw=raw) if raw else None
            except OUTAGE_ERRORS as exc:
                return outage_response(exc, request)
            if key is None:
                code = "authentication_failed" if raw else "not_authenticated"
                message = (
                    "The API key is invalid."
                    if raw
                    else "Authentication required: send `Authorization: ApiKey <secret>`."
                )
                return error_response(401, code, message, headers={"WWW-Authenticate": "ApiKey"})
            request.tenant = key.tenant
            request.api_key = key
            connection.set_tenant(key.tenant)
            request.urlconf = settings.ROOT_URLCONF
            set_urlconf(settings.ROOT_URLCONF)
            tenant_var.set(key.tenant.slug)
        return self.get_response(request)
