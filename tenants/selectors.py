"""Tenant reads."""

from __future__ import annotations

from django_tenants.utils import get_public_schema_name

from tenants.models import Tenant


def tenant_get_public() -> Tenant:
    return Tenant.objects.get(schema_name=get_public_schema_name())


def tenant_get_by_slug(*, slug: str) -> Tenant:
    return Tenant.objects.exclude(schema_name=get_public_schema_name()).get(slug=slug)


def tenant_list_active():
    return Tenant.objects.exclude(schema_name=get_public_schema_name()).filter(is_active=True)
