"""API routes: subscribers."""

from django.urls import path

from notifications.api.views.subscribers import (
    SubscriberBulkView,
    SubscriberCredentialsView,
    SubscriberDetailView,
    SubscriberListCreateView,
    SubscriberPreferencesView,
)

urlpatterns = [
    path("subscribers", SubscriberListCreateView.as_view(), name="subscribers"),
    # Before `subscribers/<id>`, so "bulk" is never read as a subscriber id.
    path("subscribers/bulk", SubscriberBulkView.as_view(), name="subscribers-bulk"),
    path(
        "subscribers/<str:subscriber_id>",
        SubscriberDetailView.as_view(),
        name="subscriber-detail",
    ),
    path(
        "subscribers/<str:subscriber_id>/credentials/<str:provider>",
        SubscriberCredentialsView.as_view(),
        name="subscriber-credentials",
    ),
    path(
        "subscribers/<str:subscriber_id>/preferences",
        SubscriberPreferencesView.as_view(),
        name="subscriber-preferences",
    ),
]
