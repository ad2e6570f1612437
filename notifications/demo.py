"""Sample configuration and people for the `demo` tenant (`make demo`), restored at each start."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from notifications.inbox_events import subscriber_hash
from notifications.models import Integration, Route, Template, Topic, Workflow
from notifications.services.config import (
    integration_create,
    integration_update,
    route_create,
    route_update,
    template_upsert,
    workflow_create,
    workflow_replace,
    workflow_step_representation,
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


def _template_differs(template: Template, sample: dict) -> bool:
    variants = [
        {"name": v.name, "weight": v.weight, "subject": v.subject, "body": v.body}
        for v in template.variants.order_by("name")
    ]
    wanted = [
        {"subject": "", **v} for v in sorted(sample.get("variants", []), key=lambda v: v["name"])
    ]
    return (
        template.channel != sample["channel"]
        or template.subject != sample.get("subject", "")
        or template.body != sample["body"]
        or template.cta_url != sample.get("cta_url", "")
        or variants != wanted
    )


def _workflow_differs(workflow: Workflow, sample: dict) -> bool:
    steps = [workflow_step_representation(step) for step in workflow.steps.order_by("position")]
    return (
        workflow.name != sample["name"]
        or workflow.critical != sample.get("critical", False)
        or workflow.send_window is not None
        or steps != sample["steps"]
    )


def _integration_restore(*, name: str, channel: str, provider: str, settings: dict) -> None:
    """The sample integration as shipped: active, primary, with the sample settings."""
    integration = Integration.objects.filter(name=name, channel=channel).first()
    if integration is None:
        integration_create(channel=channel, provider=provider, name=name, settings=settings)
    elif (integration.provider, integration.settings, integration.primary, integration.active) != (
        provider, settings, True, True
    ):  # fmt: skip
        integration_update(
            integration=integration, provider=provider, settings=settings, primary=True, active=True
        )


def demo_seed(*, smtp_host: str, smtp_port: int) -> None:
    """Restore the sample templates, workflows, routes, integrations (SMTP to the demo mail
    sink, console SMS), people and topic; what was added beside them stays as it is."""
    for sample in TEMPLATES:
        template = Template.objects.filter(key=sample["key"], locale="en").first()
        if template is None or _template_differs(template, sample):
            template_upsert(locale="en", **sample)
    for sample in WORKFLOWS:
        workflow = Workflow.objects.filter(key=sample["key"]).first()
        if workflow is None:
            workflow_create(**sample)
        elif _workflow_differs(workflow, sample):
            workflow_replace(workflow=workflow, **{k: v for k, v in sample.items() if k != "key"})
    for sample in ROUTES:
        route = Route.objects.select_related("workflow").filter(event=sample["event"]).first()
        if route is None:
            route_create(**sample)
        elif (route.workflow.key, route.priority, route.active) != (
            sample["workflow_key"], sample["priority"], True
        ):  # fmt: skip
            route_update(
                route=route, active=True, **{k: v for k, v in sample.items() if k != "event"}
            )
    _integration_restore(
        name="Demo mail sink",
        channel="email",
        provider="smtp",
        settings={"host": smtp_host, "port": smtp_port, "use_tls": False,
                  "from_email": "notifications@demo.localhost"},
    )  # fmt: skip
    _integration_restore(name="Console SMS", channel="sms", provider="console", settings={})
    subscribers_bulk_upsert(items=PEOPLE)
    topic = Topic.objects.filter(key="customers").first() or topic_create(
        key="customers", name="Customers"
    )
    topic_add_subscribers(topic=topic, subscriber_ids=[p["subscriber_id"] for p in PEOPLE])


def demo_inbox_page(request: HttpRequest, subscriber_id: str = "ada") -> HttpResponse:
    """`/demo/inbox/` on the demo tenant's host while `make demo` runs: the widget, live."""
    tenant = getattr(request, "tenant", None)
    if not settings.CLARION_DEMO_PAGES or tenant is None or tenant.slug != "demo":
        raise Http404
    host = request.get_host().rsplit(":", 1)[0]
    context = {
        "subscriber_id": subscriber_id,
        "subscriber_hash": subscriber_hash(secret=tenant.inbox_secret, subscriber_id=subscriber_id),
        "stream_host": f"{request.scheme}://{host}:{settings.STREAM_PORT}",
    }
    return render(request, "demo/inbox.html", context)
