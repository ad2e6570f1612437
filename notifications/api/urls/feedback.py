"""API routes: delivery feedback (webhook endpoints, A/B results, analytics)."""

from django.urls import path

from notifications.api.views.feedback import (
    DeliveryAnalyticsView,
    TemplateResultsView,
    WebhookAttemptListView,
    WebhookEndpointDetailView,
    WebhookEndpointListView,
)

urlpatterns = [
    path("webhook-endpoints", WebhookEndpointListView.as_view(), name="webhook-endpoint-list"),
    path(
        "webhook-endpoints/<int:endpoint_id>",
        WebhookEndpointDetailView.as_view(),
        name="webhook-endpoint-detail",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/attempts",
        WebhookAttemptListView.as_view(),
        name="webhook-endpoint-attempts",
    ),
    path("templates/<str:key>/results", TemplateResultsView.as_view(), name="template-results"),
    path("analytics/deliveries", DeliveryAnalyticsView.as_view(), name="delivery-analytics"),
]
