"""API routes: config (templates, workflows, routes, integrations, throttles)."""

from django.urls import path

from notifications.api.views.config import (
    AuditLogView,
    IntegrationDetailView,
    IntegrationListView,
    RouteDetailView,
    RouteListView,
    TemplateDetailView,
    TemplateListView,
    TemplatePreviewView,
    ThrottleDetailView,
    ThrottleListView,
    WorkflowDetailView,
    WorkflowListView,
)

urlpatterns = [
    path("templates", TemplateListView.as_view(), name="template-list"),
    path("templates/<str:key>", TemplateDetailView.as_view(), name="template-detail"),
    path("templates/<str:key>/preview", TemplatePreviewView.as_view(), name="template-preview"),
    path("workflows", WorkflowListView.as_view(), name="workflow-list"),
    path("workflows/<str:key>", WorkflowDetailView.as_view(), name="workflow-detail"),
    path("routes", RouteListView.as_view(), name="route-list"),
    path("routes/<str:event>", RouteDetailView.as_view(), name="route-detail"),
    path("integrations", IntegrationListView.as_view(), name="integration-list"),
    path(
        "integrations/<int:integration_id>",
        IntegrationDetailView.as_view(),
        name="integration-detail",
    ),
    path("audit-log", AuditLogView.as_view(), name="audit-log"),
    path("throttles", ThrottleListView.as_view(), name="throttle-list"),
    path("throttles/<str:key>", ThrottleDetailView.as_view(), name="throttle-detail"),
]
