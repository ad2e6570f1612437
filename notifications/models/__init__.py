"""The notification domain, one PostgreSQL schema per tenant."""

from notifications.models.config import (
    Channel,
    Integration,
    Priority,
    Route,
    StepType,
    Template,
    TemplateFormat,
    TemplateVariant,
    Workflow,
    WorkflowStep,
)
from notifications.models.deliveries import (
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    InboxMessage,
    Notification,
    NotificationStatus,
)
from notifications.models.governance import Throttle
from notifications.models.subscribers import Subscriber, Topic, TopicSubscription

__all__ = [
    "Channel",
    "Delivery",
    "DeliveryEvent",
    "DeliveryStatus",
    "InboxMessage",
    "Integration",
    "Notification",
    "NotificationStatus",
    "Priority",
    "Route",
    "StepType",
    "Subscriber",
    "Template",
    "TemplateFormat",
    "TemplateVariant",
    "Throttle",
    "Topic",
    "TopicSubscription",
    "Workflow",
    "WorkflowStep",
]
