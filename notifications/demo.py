"""Sample configuration and people for the `demo` tenant (`make demo`); idempotent."""

from __future__ import annotations

from notifications.models import Integration, Route, Template, Topic, Workflow
from notifications.services.config import (
    integration_create,
    route_create,
    template_create,
    workflow_create,
)
from notifications.services.subscribers import subscribers_bulk_upsert
from notifications.services.topics import topic_add_subscribers, topic_create

TEMPLATES = [
    {
        "key": "order-shipped-inbox",
        "channel": "in_app",
        "subject": "Order {{ payload.order_id }} shipped",
        "body": "Hi {{ subscriber.first_name }}, your order is on its way.",
        "cta_url": "https://shop.example.com/orders/{{ payload.order_id }}",
    },
    {
        "key": "order-shipped-email",
        "channel": "email",
        "subject": "Your order {{ payload.order_id }} has shipped",
        "body": (
            "<p>Hi {{ subscriber.first_name }},</p><p>Order <b>{{ payload.order_id }}</b> is on "
            "its way.</p><p><a href=\"https://shop.example.com/orders/{{ payload.order_id }}\">"
            "Track it</a></p>"
        ),
        "variants": [
            {"name": "a", "weight": 1, "subject": "Your order {{ payload.order_id }} has shipped",
             "body": "<p>Hi {{ subscriber.first_name }}, {{ payload.order_id }} shipped.</p>"},
            {"name": "b", "weight": 1, "subject": "📦 {{ payload.order_id }} is on its way",
             "body": "<p>Good news, {{ subscriber.first_name }}: it shipped!</p>"},
        ],
    },
    {
        "key": "order-shipped-sms",
        "channel": "sms",
        "body": "Order {{ payload.order_id }} shipped. Track: shop.example.com",
    },
    {
        "key": "security-alert-email",
        "channel": "email",
        "subject": "New sign-in to your account",
        "body": "<p>A new sign-in from {{ payload.location }}. Not you? Reset your password.</p>",
    },
]  # fmt: skip

WORKFLOWS = [
    {
        "key": "order-shipped",
        "name": "Order shipped",
        "steps": [
            {"type": "send", "channel": "in_app", "template": "order-shipped-inbox"},
            {"type": "delay", "seconds": 60},
            {"type": "send", "channel": "email", "template": "order-shipped-email",
             "condition": {"unread": 0}},
            {"type": "send", "channel": "sms", "template": "order-shipped-sms"},
        ],
    },
    {
        "key": "security-alert",
        "name": "Security alert",
        "critical": True,
        "steps": [{"type": "send", "channel": "email", "template": "security-alert-email"}],
    },
]  # fmt: skip

ROUTES = [
    {"event": "order.shipped", "workflow_key": "order-shipped", "priority": "normal"},
    {"event": "auth.new_sign_in", "workflow_key": "security-alert", "priority": "critical"},
]

PEOPLE = [
    {"subscriber_id": "ada", "email": "ada@example.com", "first_name": "Ada",
     "phone": "+14155550101", "locale": "en"},
    {"subscriber_id": "grace", "email": "grace@example.com", "first_name": "Grace",
     "phone": "+14155550102", "locale": "en"},
    {"subscriber_id": "linus", "email": "linus@example.com", "first_name": "Linus",
     "locale": "fi"},
]  # fmt: skip


def demo_seed(*, smtp_host: str, smtp_port: int) -> None:
    """Templates, workflows, routes, integrations (SMTP to the demo mail sink, console SMS)."""
    for template in TEMPLATES:
        if not Template.objects.filter(key=template["key"]).exists():
            template_create(locale="en", **template)
    for workflow in WORKFLOWS:
        if not Workflow.objects.filter(key=workflow["key"]).exists():
            workflow_create(**workflow)
    for route in ROUTES:
        if not Route.objects.filter(event=route["event"]).exists():
            route_create(**route)
    if not Integration.objects.filter(channel="email").exists():
        integration_create(
            channel="email",
            provider="smtp",
            name="Demo mail sink",
            settings={"host": smtp_host, "port": smtp_port, "use_tls": False,
                      "from_email": "notifications@demo.localhost"},
        )  # fmt: skip
    if not Integration.objects.filter(channel="sms").exists():
        integration_create(channel="sms", provider="console", name="Console SMS")
    subscribers_bulk_upsert(items=PEOPLE)
    topic = Topic.objects.filter(key="customers").first() or topic_create(
        key="customers", name="Customers"
    )
    topic_add_subscribers(topic=topic, subscriber_ids=[p["subscriber_id"] for p in PEOPLE])
