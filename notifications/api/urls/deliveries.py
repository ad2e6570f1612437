"""API routes: notifications, deliveries, queue statistics."""

from django.urls import path

from notifications.api.views import deliveries as views

urlpatterns = [
    path("notifications", views.NotificationListView.as_view(), name="notification-list"),
    path(
        "notifications/<uuid:notification_id>",
        views.NotificationDetailView.as_view(),
        name="notification-detail",
    ),
    path("deliveries", views.DeliveryListView.as_view(), name="delivery-list"),
    path(
        "deliveries/<int:delivery_id>", views.DeliveryDetailView.as_view(), name="delivery-detail"
    ),
    path(
        "deliveries/<int:delivery_id>/replay",
        views.DeliveryReplayView.as_view(),
        name="delivery-replay",
    ),
    path("queues/stats", views.QueueStatsView.as_view(), name="queue-stats"),
]
