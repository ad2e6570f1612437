"""Configuration API: templates, workflows (and their versions), routes, event schemas,
provider integrations and throttles, one module each.

Thin views: validate the body's shape, call one service or selector, serialise the result.
"""

from notifications.api.views.config.audit import AuditLogView
from notifications.api.views.config.integrations import IntegrationDetailView, IntegrationListView
from notifications.api.views.config.routes import RouteDetailView, RouteListView
from notifications.api.views.config.schemas import EventSchemaDetailView, EventSchemaListView
from notifications.api.views.config.templates import (
    TemplateDetailView,
    TemplateListView,
    TemplatePreviewView,
)
from notifications.api.views.config.throttles import ThrottleDetailView, ThrottleListView
from notifications.api.views.config.workflows import (
    WorkflowDetailView,
    WorkflowListView,
    WorkflowPromoteView,
    WorkflowRollbackView,
    WorkflowRolloutView,
    WorkflowVersionDetailView,
    WorkflowVersionListView,
)

__all__ = [
    "AuditLogView",
    "EventSchemaDetailView",
    "EventSchemaListView",
    "IntegrationDetailView",
    "IntegrationListView",
    "RouteDetailView",
    "RouteListView",
    "TemplateDetailView",
    "TemplateListView",
    "TemplatePreviewView",
    "ThrottleDetailView",
    "ThrottleListView",
    "WorkflowDetailView",
    "WorkflowListView",
    "WorkflowPromoteView",
    "WorkflowRollbackView",
    "WorkflowRolloutView",
    "WorkflowVersionDetailView",
    "WorkflowVersionListView",
]
