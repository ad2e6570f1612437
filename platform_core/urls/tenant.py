"""URLs of a tenant's host: its admin and the API."""

from django.conf import settings
from django.urls import include, path

from notifications.api.views.unsubscribe import unsubscribe_page
from platform_core.admin_sites import tenant_admin_site
from platform_core.urls.common import (  # noqa: F401
    handler400,
    handler403,
    handler404,
    handler500,
)
from platform_core.urls.common import urlpatterns as common_patterns

urlpatterns = [
    # First: the API is what most requests ask for.
    path("api/v1/", include("platform_core.api.urls")),
    path("admin/", tenant_admin_site.urls),
    # One-click unsubscribe (RFC 8058), linked from List-Unsubscribe.
    path("u/<str:token>", unsubscribe_page, name="unsubscribe"),
    path("", include("notifications.api.urls.tracking")),
    *common_patterns,
]
if settings.CLARION_DEMO_PAGES:
    from notifications.demo import demo_inbox_page

    urlpatterns.append(path("demo/inbox/", demo_inbox_page, name="demo-inbox"))
