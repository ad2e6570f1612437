"""URL patterns both the platform hosts and tenant hosts serve."""

from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Browsers ask for /favicon.ico on pages without an icon link (the API docs, JSON).
    path("favicon.ico", RedirectView.as_view(url=static("clarion/favicon.svg"), permanent=True)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler400 = "platform_core.api.errors.bad_request"
handler403 = "platform_core.api.errors.permission_denied"
handler404 = "platform_core.api.errors.not_found"
handler500 = "platform_core.api.errors.server_error"
