"""Tenant reads."""

from __future__ import annotations

from django_tenants.utils import get_public_schema_name

from tenants import cache
from tenants.models import Domain, Tenant


def tenant_get_public() -> Tenant:
    return Tenant.objects.get(schema_name=get_public_schema_name())


def tenant_get_by_slug(*, slug: str) -> Tenant:
    return Tenant.objects.exclude(schema_name=get_public_schema_name()).get(slug=slug)


def tenant_list_active():
    return Tenant.objects.exclude(schema_name=get_public_schema_name()).filter(is_active=True)


def tenant_primary_host(*, schema_name: str) -> str | None:
    """The primary domain of the tenant of `schema_name`, else its first (None if it has
    none); kept per process like a host's tenant (tenants/cache.py)."""
    return cache.cached(
        "primary_host",
        schema_name,
        lambda: (
            Domain.objects.filter(tenant__schema_name=schema_name)
            .order_by("-is_primary", "id")
            .values_list("domain", flat=True)
            .first()
        ),
    )
