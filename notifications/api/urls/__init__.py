"""Everything under /api/v1/ that belongs to the notification domain."""

from django.urls import include, path

urlpatterns = [
    path("", include("notifications.api.urls.subscribers")),
    path("", include("notifications.api.urls.topics")),
    path("", include("notifications.api.urls.feedback")),
    path("", include("notifications.api.urls.config")),
    path("", include("notifications.api.urls.events")),
    path("", include("notifications.api.urls.deliveries")),
    path("", include("notifications.api.urls.inbox")),
    path("", include("notifications.api.urls.provider_feedback")),
]
