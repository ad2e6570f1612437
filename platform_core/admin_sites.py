"""Two admin sites: the platform's on its own hosts, each tenant's on its domain."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import connection


class PlatformAdminSite(admin.AdminSite):
    site_header = "Clarion platform"
    site_title = "Clarion platform"
    index_title = "Tenants and platform settings"


class TenantAdminSite(admin.AdminSite):
    site_title = "Clarion"
    index_title = "Notifications"

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None) or getattr(connection, "tenant", None)
        context["site_header"] = f"Clarion · {getattr(tenant, 'name', '')}".rstrip(" ·")
        return context


platform_admin_site = PlatformAdminSite(name="platform_admin")
tenant_admin_site = TenantAdminSite(name="tenant_admin")

for site in (platform_admin_site, tenant_admin_site):
    site.register(User, UserAdmin)
    site.register(Group, GroupAdmin)
