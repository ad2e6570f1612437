"""Everything under /api/v1/ on a tenant's host."""

from django.urls import include, path

from tenants.api.views import CurrentTenantView

urlpatterns = [
    path("tenant", CurrentTenantView.as_view(), name="current-tenant"),
    path("", include("notifications.api.urls")),
]
