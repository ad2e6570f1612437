from django.urls import path

from platform_core import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
]

handler400 = "platform_core.api.errors.bad_request"
handler403 = "platform_core.api.errors.permission_denied"
handler404 = "platform_core.api.errors.not_found"
handler500 = "platform_core.api.errors.server_error"
