"""URLs of the platform hosts: platform admin, API docs. API calls here are routed to the
key's tenant by `tenants.middleware.ApiKeyTenantMiddleware` before they reach a urlconf."""

from django.urls import path

from platform_core.admin_sites import platform_admin_site
from platform_core.urls.common import (  # noqa: F401
    handler400,
    handler403,
    handler404,
    handler500,
)
from platform_core.urls.common import urlpatterns as common_patterns

urlpatterns = [path("admin/", platform_admin_site.urls), *common_patterns]
