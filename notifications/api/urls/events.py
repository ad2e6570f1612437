"""API routes: events."""

from django.urls import path

from notifications.api.views.events import EventBroadcastView, EventBulkView, EventTriggerView

urlpatterns = [
    path("events/trigger", EventTriggerView.as_view(), name="events-trigger"),
    path("events/bulk", EventBulkView.as_view(), name="events-bulk"),
    path("events/broadcast", EventBroadcastView.as_view(), name="events-broadcast"),
]
