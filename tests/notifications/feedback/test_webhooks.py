"""Outbound webhooks end to end: real sends → the delivery history → the feed → stored
messages → a real worker posting them to a receiver faked at the network, signed per
Standard Webhooks, retried from the database."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from standardwebhooks import Webhook

from notifications.models import Delivery, Subscriber, WebhookEndpoint, WebhookMessage
from notifications.pipeline.feedback import tenant_feedback
from tests.notifications.pipeline_helpers import (
    low_queue_worker,
    make_workflow,
    notification_done,
    wait_until,
)

pytestmark = pytest.mark.worker

# The sender runs on the `low` queue; fast retries so a test sees several.
FAST = {"WEBHOOK_RETRY_BASE_SECONDS": "0.2", "WEBHOOK_RETRY_MAX_SECONDS": "0.5"}


def create_endpoint(api, url: str, events: list[str]) -> tuple[int, str]:
    response = api.post("/api/v1/webhook-endpoints", {"url": url, "events": events})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    return body["id"], body["secret"]


def trigger(api, event: str, to: list[str]) -> str:
    response = api.post(
        "/api/v1/events/trigger", {"event": event, "to": to, "payload": {"order_id": "A-1"}}
    )
    assert response.status_code == 202, response.content
    return response.json()["notification_id"]


def feeding_until(predicate, timeout: float = 40, what: str = ""):
    """Run the feed tick (as beat does) between polls until `predicate()` holds."""

    def step():
        tenant_feedback()
        return predicate()

    return wait_until(step, timeout=timeout, interval=0.2, what=what)


def test_every_event_arrives_exactly_once_signed_after_two_failures(
    celery_worker, live, live_api, http_server, unique
):
    # given: an endpoint whose first two answers are 503
    endpoint_id, secret = create_endpoint(
        live_api, f"{http_server.url}/hooks/{unique}", ["delivery.sent", "delivery.skipped"]
    )
    http_server.respond(503, {"error": "busy"}, times=2)
    tenant_feedback()  # the cursor exists before the events happen
    event = make_workflow(unique, [{"channel": "in_app"}, {"channel": "email"}])
    Subscriber.objects.create(subscriber_id=f"a-{unique}", email=None)
    Subscriber.objects.create(subscriber_id=f"b-{unique}", email=None)
    try:
        with low_queue_worker(f"hooks{unique}", **FAST):
            # when: two in-app deliveries are sent, two emails skipped (no address)
            notification_id = trigger(live_api, event, [f"a-{unique}", f"b-{unique}"])
            wait_until(lambda: notification_done(notification_id), what="fan-out")
            deliveries = {d.pk: d for d in Delivery.objects.filter(notification_id=notification_id)}
            wait_until(
                lambda: (
                    Delivery.objects.filter(notification_id=notification_id, status="sent").count()
                    == 2
                ),
                what="in-app sent",
            )
            expected = {
                (pk, "delivery.sent" if d.channel == "in_app" else "delivery.skipped")
                for pk, d in deliveries.items()
            }
            feeding_until(
                lambda: len(http_server.requests) >= len(expected) + 2,
                what="every event posted after the retries",
            )
            # a few more ticks: nothing is posted twice
            for _ in range(5):
                tenant_feedback()
                time.sleep(0.2)
        attempts = live_api.get(f"/api/v1/webhook-endpoints/{endpoint_id}/attempts").json()
    finally:
        WebhookEndpoint.objects.filter(pk=endpoint_id).delete()

    # then: every event once with a 2xx, each signed, the failed ones retried with their id
    requests = http_server.requests
    assert len(requests) == len(expected) + 2
    accepted = requests[2:]
    ids = Counter(r.headers["webhook-id"] for r in accepted)
    assert set(ids.values()) == {1}
    assert {r.headers["webhook-id"] for r in requests[:2]} <= set(ids)
    verifier = Webhook(secret)
    received = set()
    for request in accepted:
        document = verifier.verify(request.body, dict(request.headers))
        assert request.url_path == f"/hooks/{unique}"
        assert document["data"]["notification_id"] == notification_id
        received.add((document["data"]["delivery_id"], document["type"]))
    assert received == expected
    # and: every attempt is listed, the two refused ones with their 503
    results = attempts["results"]
    assert len(results) == len(expected) + 2
    assert sorted(a["response_code"] for a in results if not a["succeeded"]) == [503, 503]
    assert {a["webhook_id"] for a in results if a["succeeded"]} == set(ids)


def test_attempts_are_listed_and_a_failing_endpoint_is_turned_off(
    celery_worker, live, live_api, http_server, unique
):
    # given: an endpoint that always fails, turned off after 1 s of continuous failure
    endpoint_id, _ = create_endpoint(live_api, f"{http_server.url}/down", ["delivery.sent"])
    http_server.respond(500, {"error": "down"})
    tenant_feedback()
    event = make_workflow(unique, [{"channel": "in_app"}])
    Subscriber.objects.create(subscriber_id=f"c-{unique}")
    try:
        with low_queue_worker(f"down{unique}", WEBHOOK_DISABLE_AFTER_SECONDS="1", **FAST):
            notification_id = trigger(live_api, event, [f"c-{unique}"])
            wait_until(
                lambda: Delivery.objects.filter(
                    notification_id=notification_id, status="sent"
                ).exists(),
                what="in-app sent",
            )
            # when
            feeding_until(
                lambda: not WebhookEndpoint.objects.get(pk=endpoint_id).active,
                what="the endpoint turned off",
            )
            posted = len(http_server.requests)
            for _ in range(5):
                tenant_feedback()
                time.sleep(0.2)

        # then: nothing more was posted once it was off; the API shows why, and the attempts
        assert len(http_server.requests) == posted >= 2
        detail = live_api.get(f"/api/v1/webhook-endpoints/{endpoint_id}").json()
        assert detail["active"] is False
        assert "disabled automatically" in detail["disabled_reason"]
        attempts = live_api.get(f"/api/v1/webhook-endpoints/{endpoint_id}/attempts").json()
        assert len(attempts["results"]) == posted
        newest = attempts["results"][0]
        assert newest["succeeded"] is False and newest["response_code"] == 500
        assert newest["event_type"] == "delivery.sent"
        assert [a["attempt"] for a in attempts["results"]] == list(range(posted, 0, -1))
        message = WebhookMessage.objects.get(endpoint_id=endpoint_id)
        assert message.delivered_at is None and message.attempts == posted

        # and: turned on again, its waiting event is delivered
        http_server.reset()
        response = live_api.patch(f"/api/v1/webhook-endpoints/{endpoint_id}", {"active": True})
        assert response.status_code == 200 and response.json()["disabled_reason"] == ""
        with low_queue_worker(f"up{unique}", **FAST):
            feeding_until(
                lambda: WebhookMessage.objects.filter(
                    endpoint_id=endpoint_id, delivered_at__isnull=False
                ).exists(),
                what="delivered after turning it on",
            )
        assert len(http_server.requests) == 1
    finally:
        WebhookEndpoint.objects.filter(pk=endpoint_id).delete()


def feed_request() -> None:
    """Ask a real worker for one feed run over every tenant, as beat does (on its queue)."""
    from django.conf import settings

    from platform_core.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["feedback-feed"]
    app.send_task(
        entry["task"],
        queue=entry["options"]["queue"],
        expires=5,
        headers={"_schema_name": "public"},
    )


def test_the_scheduled_feed_task_posts_events_through_the_workers(
    celery_worker, live, live_api, http_server, unique
):
    # given
    endpoint_id, secret = create_endpoint(live_api, f"{http_server.url}/beat", ["delivery.sent"])
    event = make_workflow(unique, [{"channel": "in_app"}])
    Subscriber.objects.create(subscriber_id=f"d-{unique}")
    try:
        with low_queue_worker(f"beat{unique}", **FAST):
            feed_request()
            time.sleep(1)
            # when: a delivery is sent and beat's task runs (in public, over every tenant)
            notification_id = trigger(live_api, event, [f"d-{unique}"])
            delivery = wait_until(
                lambda: Delivery.objects.filter(
                    notification_id=notification_id, status="sent"
                ).first(),
                what="in-app sent",
            )

            def posted():
                feed_request()
                return http_server.requests

            [request] = wait_until(posted, timeout=40, interval=1.0, what="the event posted")
    finally:
        WebhookEndpoint.objects.filter(pk=endpoint_id).delete()

    # then
    document = Webhook(secret).verify(request.body, dict(request.headers))
    assert document["type"] == "delivery.sent"
    assert document["data"]["delivery_id"] == delivery.pk
