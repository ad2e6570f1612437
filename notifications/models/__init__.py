"""The notification domain, one PostgreSQL schema per tenant."""

from notifications.models.config import (
    Channel,
    EventSchema,
    Integration,
    Priority,
    Route,
    StepType,
    Template,
    TemplateFormat,
    TemplateVariant,
    Workflow,
    WorkflowStep,
    WorkflowVersion,
)
from notifications.models.deliveries import (
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    InboxMessage,
    Notification,
    NotificationStatus,
)
from notifications.models.feedback import (
    WEBHOOK_EVENTS,
    FeedCursor,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from notifications.models.governance import Throttle
from notifications.models.subscribers import Subscriber, Topic, TopicSubscription
from notifications.models.suppressions import Suppression, SuppressionReason

__all__ = [
    "WEBHOOK_EVENTS",
    "FeedCursor",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
    "Channel",
    "Delivery",
    "DeliveryEvent",
    "DeliveryStatus",
    "EventSchema",
    "InboxMessage",
    "Integration",
    "Notification",
    "NotificationStatus",
    "Priority",
    "Route",
    "StepType",
    "Subscriber",
    "Suppression",
    "SuppressionReason",
    "Template",
    "TemplateFormat",
    "TemplateVariant",
    "Throttle",
    "Topic",
    "TopicSubscription",
    "Workflow",
    "WorkflowStep",
    "WorkflowVersion",
]
