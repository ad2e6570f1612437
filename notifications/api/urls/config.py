"""API routes: config (templates, workflows, routes, integrations, throttles)."""

from django.urls import path

from notifications.api.views.config import (
    AuditLogView,
    EventSchemaDetailView,
    EventSchemaListView,
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
    WorkflowPromoteView,
    WorkflowRollbackView,
    WorkflowRolloutView,
    WorkflowVersionDetailView,
    WorkflowVersionListView,
)

urlpatterns = [
    path("templates", TemplateListView.as_view(), name="template-list"),
    path("templates/<str:key>", TemplateDetailView.as_view(), name="template-detail"),
    path("templates/<str:key>/preview", TemplatePreviewView.as_view(), name="template-preview"),
    path("workflows", WorkflowListView.as_view(), name="workflow-list"),
    path("workflows/<str:key>", WorkflowDetailView.as_view(), name="workflow-detail"),
    path(
        "workflows/<str:key>/versions", WorkflowVersionListView.as_view(), name="workflow-versions"
    ),
    path(
        "workflows/<str:key>/versions/<int:number>",
        WorkflowVersionDetailView.as_view(),
        name="workflow-version",
    ),
    path("workflows/<str:key>/rollout", WorkflowRolloutView.as_view(), name="workflow-rollout"),
    path("workflows/<str:key>/promote", WorkflowPromoteView.as_view(), name="workflow-promote"),
    path("workflows/<str:key>/rollback", WorkflowRollbackView.as_view(), name="workflow-rollback"),
    path("events/<str:event>/schemas", EventSchemaListView.as_view(), name="event-schemas"),
    path(
        "events/<str:event>/schemas/<int:version>",
        EventSchemaDetailView.as_view(),
        name="event-schema",
    ),
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
