"""Two admin sites: the platform's on its own hosts, each tenant's on its domain."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import timezone


class PlatformAdminSite(admin.AdminSite):
    site_header = "Clarion platform"
    site_title = "Clarion platform"
    index_title = "Tenants and platform settings"


def _tenant_of(request):
    return getattr(request, "tenant", None) or getattr(connection, "tenant", None)


def tenant_zone(tenant) -> zoneinfo.ZoneInfo:
    """The tenant's time zone (`Tenant.timezone`), TIME_ZONE when it has none or a bad one."""
    name = getattr(tenant, "timezone", "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


class TenantAdminSite(admin.AdminSite):
    """The tenant's admin. Its index is the dashboard the `dashboard` callable fills in (the
    notifications admin sets it); every page shows times in the tenant's time zone."""

    site_title = "Clarion"
    index_title = "Dashboard"
    index_template = "admin/tenant_index.html"
    # request → extra context for the index page; set by notifications.admin.dashboard.
    dashboard: Callable[[Any], dict[str, Any]] | None = None

    def each_context(self, request):
        context = super().each_context(request)
        tenant = _tenant_of(request)
        context["site_header"] = f"Clarion · {getattr(tenant, 'name', '')}".rstrip(" ·")
        context["tenant_timezone"] = timezone.get_current_timezone_name()
        return context

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def in_tenant_zone(request, *args, **kwargs):
            with timezone.override(tenant_zone(_tenant_of(request))):
                response = inner(request, *args, **kwargs)
                # Template responses render later, outside this block: render them here.
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()
                return response

        return in_tenant_zone

    def index(self, request, extra_context=None):
        context = dict(extra_context or {})
        if self.dashboard is not None:
            context.update(self.dashboard(request))
        return super().index(request, context)


platform_admin_site = PlatformAdminSite(name="platform_admin")
tenant_admin_site = TenantAdminSite(name="tenant_admin")

for site in (platform_admin_site, tenant_admin_site):
    site.register(User, UserAdmin)
    site.register(Group, GroupAdmin)
