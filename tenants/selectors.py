"""Tenant reads."""

from __future__ import annotations

from django_tenants.utils import get_public_schema_name

from tenants.models import Domain, Tenant


def tenant_get_public() -> Tenant:
    return Tenant.objects.get(schema_name=get_public_schema_name())


def tenant_get_by_slug(*, slug: str) -> Tenant:
    return Tenant.objects.exclude(schema_name=get_public_schema_name()).get(slug=slug)


def tenant_list_active():
    return Tenant.objects.exclude(schema_name=get_public_schema_name()).filter(is_active=True)


def tenant_primary_host(*, schema_name: str) -> str | None:
    """The primary domain of the tenant of `schema_name` (None if it has none)."""
    return (
        Domain.objects.filter(tenant__schema_name=schema_name, is_primary=True)
        .values_list("domain", flat=True)
        .first()
    )
