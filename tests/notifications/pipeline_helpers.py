"""Building blocks for tests that run the pipeline through real workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from notifications.models import (
    Delivery,
    Integration,
    Notification,
    Route,
    Subscriber,
    Template,
    Topic,
    TopicSubscription,
    Workflow,
    WorkflowStep,
)


def wait_until(
    predicate: Callable[[], object], timeout: float = 30, interval: float = 0.1, what=""
):
    """Poll until `predicate()` is truthy; its last value, or AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def make_workflow(
    unique: str,
    steps: list[dict],
    *,
    priority: str = "normal",
    critical: bool = False,
    max_attempts: int = 5,
) -> str:
    """A workflow with templates for its send steps and a route; returns the event name.

    A step is {"channel": ..., "body": ..., "subject": ...} for a send, {"delay": n}, or
    {"digest": window_seconds}.
    """
    workflow = Workflow.objects.create(
        key=f"wf-{unique}", name=f"Workflow {unique}", critical=critical
    )
    for position, step in enumerate(steps):
        if "delay" in step:
            WorkflowStep.objects.create(
                workflow=workflow, position=position, type="delay", seconds=step["delay"]
            )
            continue
        if "digest" in step:
            WorkflowStep.objects.create(
                workflow=workflow, position=position, type="digest", seconds=step["digest"]
            )
            continue
        key = f"tpl-{unique}-{position}"
        Template.objects.create(
            key=key,
            channel=step["channel"],
            subject=step.get("subject", "Hello {{ subscriber.first_name }}"),
            body=step.get("body", "Order {{ payload.order_id }} shipped"),
        )
        WorkflowStep.objects.create(
            workflow=workflow,
            position=position,
            type="send",
            channel=step["channel"],
            template_key=key,
            unread_step=step.get("unread_step"),
        )
    event = f"test.{unique}"
    Route.objects.create(
        event=event, workflow=workflow, priority=priority, max_attempts=max_attempts
    )
    return event


def make_topic(
    unique: str, count: int, *, prefix: str | None = None, email: bool = True
) -> tuple[str, list[str]]:
    """A topic with `count` new subscribers; returns its key and their ids."""
    prefix = prefix or f"s-{unique}"
    topic = Topic.objects.create(key=f"topic-{unique}-{prefix}", name="Test topic")
    subscribers = Subscriber.objects.bulk_create(
        [
            Subscriber(
                subscriber_id=f"{prefix}-{n}",
                email=f"{prefix}-{n}@example.com" if email else None,
                first_name=f"Name{n}",
                phone=f"+1415555{n:04d}",
            )
            for n in range(count)
        ]
    )
    TopicSubscription.objects.bulk_create(
        [TopicSubscription(topic=topic, subscriber=s) for s in subscribers]
    )
    return topic.key, [s.subscriber_id for s in subscribers]


def smtp_integration(server, **settings) -> Integration:
    Integration.objects.filter(channel="email").update(active=False)
    return Integration.objects.create(
        channel="email",
        provider="smtp",
        name="Test SMTP",
        settings={
            "host": server.host,
            "port": server.port,
            "use_tls": False,
            "from_email": "noreply@clarion.test",
            **settings,
        },
        credentials={},
    )


def twilio_integration(
    server, *, name: str = "Test Twilio", primary: bool = True, only: bool = True
) -> Integration:
    """An SMS integration whose Twilio-compatible API is the fake `server`; with `only`, the
    channel's one active integration."""
    if only:
        Integration.objects.filter(channel="sms").update(active=False)
    return Integration.objects.create(
        channel="sms",
        provider="twilio",
        name=name,
        primary=primary,
        settings={"account_sid": "AC123", "from_number": "+14155550000", "base_url": server.url},
        credentials={"auth_token": "token"},
    )


def notification_done(notification_id) -> bool:
    return Notification.objects.filter(pk=notification_id, status="processed").exists()


def statuses(notification_id) -> dict[str, int]:
    from django.db.models import Count

    return dict(
        Delivery.objects.filter(notification_id=notification_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


def sweep_request() -> None:
    """Ask a real worker for one sweep of every tenant, as beat does (on its queue)."""
    from django.conf import settings

    from platform_core.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["deliveries-sweep"]
    app.send_task(
        entry["task"],
        queue=entry["options"]["queue"],
        expires=5,
        headers={"_schema_name": "public"},
    )


def sweeping_until(
    predicate: Callable[[], object], timeout: float = 30, interval: float = 0.3, what=""
):
    """Like `wait_until`, asking the workers for a sweep between polls (retries, delays)."""

    def step():
        value = predicate()
        if not value:
            sweep_request()
        return value

    return wait_until(step, timeout=timeout, interval=interval, what=what)


@contextmanager
def low_queue_worker(name: str, *, concurrency: int = 1, **settings: str) -> Iterator[object]:
    """A real worker of its own on the `low` queue, with its own settings (env overrides).

    The suite's worker leaves `low` alone, so a route of priority `low` runs its fan-out and
    sends only here, with these settings; sweeps still run on the suite's worker.
    """
    from tests.conftest import start_worker, stop_process, wait_for_worker, worker_env

    proc = start_worker("low", name, concurrency=concurrency, env=worker_env(**settings))
    try:
        wait_for_worker(name)
        yield proc
    finally:
        stop_process(proc)
