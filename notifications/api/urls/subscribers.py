"""API routes: subscribers."""

from django.urls import path

from notifications.api.views.subscribers import (
    SubscriberBulkView,
    SubscriberCredentialsView,
    SubscriberDetailView,
    SubscriberListCreateView,
    SubscriberPreferencesView,
)

# `<path:…>`: a subscriber id stored before the id rule may hold a `/` (servers decode `%2F`
# before routing). The sub-resources come first, so `a/b/preferences` is a/b's preferences.
urlpatterns = [
    path("subscribers", SubscriberListCreateView.as_view(), name="subscribers"),
    # Before `subscribers/<id>`, so "bulk" is never read as a subscriber id.
    path("subscribers/bulk", SubscriberBulkView.as_view(), name="subscribers-bulk"),
    path(
        "subscribers/<path:subscriber_id>/credentials/<str:provider>",
        SubscriberCredentialsView.as_view(),
        name="subscriber-credentials",
    ),
    path(
        "subscribers/<path:subscriber_id>/preferences",
        SubscriberPreferencesView.as_view(),
        name="subscriber-preferences",
    ),
    path(
        "subscribers/<path:subscriber_id>",
        SubscriberDetailView.as_view(),
        name="subscriber-detail",
    ),
]
