"""API routes: provider webhooks and suppressions."""

from django.urls import path

from notifications.api.views import provider_feedback as views

urlpatterns = [
    path(
        "integrations/<int:integration_id>/webhook",
        views.IntegrationWebhookView.as_view(),
        name="integration-webhook",
    ),
    path("suppressions", views.SuppressionListView.as_view(), name="suppression-list"),
    path(
        "suppressions/<int:suppression_id>",
        views.SuppressionDetailView.as_view(),
        name="suppression-detail",
    ),
]
