"""The pipeline's failure paths through real workers: attempts exhausted, backoff and its
jitter, every circuit open, the send time budget, and critical notifications never digested.

Retries and their timing run on a worker of this module's own (the `low` queue) with short
settings; sweeps are asked of the suite's worker as beat would; the provider is a fake HTTP
server running behind the real Twilio connector code.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from notifications.models import Delivery, DeliveryEvent, Integration
from tests.fakes import FakeHttpServer
from tests.notifications.pipeline_helpers import (
    low_queue_worker,
    make_workflow,
    notification_done,
    statuses,
    sweep_request,
    sweeping_until,
    twilio_integration,
    wait_until,
)

pytestmark = pytest.mark.worker

# The worker's settings (names from platform_core/settings/notifications.py).
RETRY_BASE = 0.8
RETRY_MAX = 2.4
CIRCUIT_THRESHOLD = 5
CIRCUIT_COOLDOWN = 4
BATCH_TIME_BUDGET = 1.0
WORKER_SETTINGS = {
    "DELIVERY_RETRY_BASE_SECONDS": str(RETRY_BASE),
    "DELIVERY_RETRY_MAX_SECONDS": str(RETRY_MAX),
    "CIRCUIT_BREAKER_THRESHOLD": str(CIRCUIT_THRESHOLD),
    "CIRCUIT_BREAKER_COOLDOWN_SECONDS": str(CIRCUIT_COOLDOWN),
    "SEND_BATCH_TIME_BUDGET_SECONDS": str(BATCH_TIME_BUDGET),
}


@pytest.fixture(scope="module")
def failure_worker(celery_worker):
    """One worker process on `low`, so batches run one after another in a known order."""
    with low_queue_worker("failpaths", concurrency=1, **WORKER_SETTINGS) as proc:
        yield proc


@pytest.fixture
def backup_server():
    server = FakeHttpServer().start()
    yield server
    server.stop()


def trigger(api, event: str, to: list, order_id: str = "F-1", **extra) -> str:
    response = api.post(
        "/api/v1/events/trigger",
        {"event": event, "to": to, "payload": {"order_id": order_id}, **extra},
    )
    assert response.status_code == 202, response.content
    return response.json()["notification_id"]


def phone(n: int) -> str:
    return f"+1415556{n:04d}"


def the_delivery(notification_id, **filters) -> Delivery | None:
    return Delivery.objects.filter(notification_id=notification_id, **filters).first()


def test_exhausted_attempts_dead_letter_the_delivery_with_each_attempt_in_its_history(
    failure_worker, live, live_api, http_server, unique
):
    # given: an SMS provider that always answers 503, and a route allowing three attempts
    twilio_integration(http_server)
    http_server.respond(503, {"message": "Service unavailable"})
    event = make_workflow(unique, [{"channel": "sms"}], priority="low", max_attempts=3)

    # when
    notification_id = trigger(
        live_api, event, [{"subscriber_id": f"x-{unique}", "phone": phone(1)}]
    )
    dead = sweeping_until(
        lambda: the_delivery(notification_id, status="dead"), what="the delivery to be dead"
    )

    # then: three attempts reached the provider, and the dead letter says why
    assert dead.attempts == 3
    assert dead.last_error.startswith("attempts exhausted (3)"), dead.last_error
    assert "HTTP 503" in dead.last_error
    assert len(http_server.requests) == 3
    view = live_api.get(f"/api/v1/deliveries/{dead.pk}").json()
    assert (view["status"], view["attempts"]) == ("dead", 3)
    attempts = [
        (e["from_status"], e["status"], e["attempt"], e["provider_response_code"])
        for e in view["events"]
        if e["from_status"] == "sending"
    ]
    assert attempts == [
        ("sending", "failed", 1, 503),
        ("sending", "failed", 2, 503),
        ("sending", "dead", 3, 503),
    ]
    listed = live_api.get("/api/v1/deliveries", {"notification_id": notification_id}).json()
    assert [(d["id"], d["status"]) for d in listed["results"]] == [(dead.pk, "dead")]

    # and a dead letter is not retried by later sweeps
    sweep_request()
    time.sleep(1)
    assert Delivery.objects.get(pk=dead.pk).status == "dead"
    assert len(http_server.requests) == 3


def test_backoff_grows_exponentially_and_its_jitter_stays_within_bounds(
    failure_worker, live, live_api, http_server, unique
):
    # given: three failures, then the provider accepts
    twilio_integration(http_server)
    http_server.respond(503, {"message": "busy"}, times=3)
    http_server.respond(201, {"sid": "SM-after-backoff"})
    event = make_workflow(unique, [{"channel": "sms"}], priority="low", max_attempts=5)
    notification_id = trigger(
        live_api, event, [{"subscriber_id": f"b-{unique}", "phone": phone(2)}]
    )

    scheduled, fractions = [], []
    for attempt in (1, 2, 3):
        # when: attempt n has failed
        failed = wait_until(
            lambda n=attempt: the_delivery(notification_id, status="failed", attempts=n),
            what=f"attempt {attempt} to fail",
        )
        failure = DeliveryEvent.objects.get(delivery=failed, status="failed", attempt=attempt)

        # then: its retry is scheduled in the database within [cap/2, cap] of the schedule
        cap = min(RETRY_MAX, RETRY_BASE * 2 ** (attempt - 1))
        delay = (failed.next_attempt_at - failure.created_at).total_seconds()
        assert cap / 2 - 0.05 <= delay <= cap, (attempt, delay, cap)
        scheduled.append(failed.next_attempt_at)
        fractions.append(delay / cap)
        sweeping_until(
            lambda n=attempt: not the_delivery(notification_id, status="failed", attempts=n),
            interval=0.1,
            what=f"retry {attempt} to be taken up",
        )

    delivery = wait_until(
        lambda: the_delivery(notification_id, status="sent"), what="the send after backoff"
    )
    assert delivery.attempts == 4 and delivery.provider_message_id == "SM-after-backoff"
    assert len(http_server.requests) == 4
    # each retry was taken up only once it was due
    due = list(
        DeliveryEvent.objects.filter(delivery=delivery, from_status="failed", status="queued")
        .order_by("id")
        .values_list("created_at", flat=True)
    )
    assert len(due) == 3
    assert all(taken >= planned for taken, planned in zip(due, scheduled, strict=True))
    # and the jitter is random: the delays are not one fixed fraction of their caps
    assert len({round(fraction, 3) for fraction in fractions}) > 1, fractions


def test_with_every_circuit_open_deliveries_wait_without_spending_attempts_then_send(
    failure_worker, live, live_api, http_server, backup_server, unique
):
    # given: both SMS integrations down; two attempts allowed, so a spent attempt would kill
    Integration.objects.filter(channel="sms").update(active=False)
    twilio_integration(http_server, name=f"primary {unique}", primary=True, only=False)
    twilio_integration(backup_server, name=f"backup {unique}", primary=False, only=False)
    http_server.respond(503, {"message": "down"})
    backup_server.respond(503, {"message": "down"})
    event = make_workflow(unique, [{"channel": "sms"}], priority="low", max_attempts=2)
    count = 2 * CIRCUIT_THRESHOLD
    notification_id = trigger(
        live_api,
        event,
        [{"subscriber_id": f"o-{unique}-{n}", "phone": phone(100 + n)} for n in range(count)],
    )

    # when: the first attempts fail until both circuits are open
    wait_until(
        lambda: statuses(notification_id) == {"failed": count}, what="every first attempt to fail"
    )
    assert len(http_server.requests) == CIRCUIT_THRESHOLD
    assert len(backup_server.requests) == CIRCUIT_THRESHOLD

    # then: their retries find every circuit open and go back to pending, attempt not spent
    sweeping_until(
        lambda: statuses(notification_id) == {"pending": count},
        what="the retries to be put back while the circuits are open",
    )
    for delivery in Delivery.objects.filter(notification_id=notification_id):
        assert delivery.attempts == 1
        released = (
            DeliveryEvent.objects.filter(delivery=delivery, from_status="sending", status="pending")
            .order_by("id")
            .last()
        )
        assert released is not None and "circuit" in released.detail
        assert (delivery.next_attempt_at - released.created_at).total_seconds() >= (
            CIRCUIT_COOLDOWN - 0.05
        )
    assert len(http_server.requests) + len(backup_server.requests) == count

    # when: the providers recover
    http_server.respond(201, {"sid": "SM-primary"})
    backup_server.respond(201, {"sid": "SM-backup"})

    # then: once the circuits close, every delivery is sent on its second attempt; none died
    sweeping_until(
        lambda: statuses(notification_id) == {"sent": count},
        timeout=CIRCUIT_COOLDOWN + 20,
        what="every delivery sent after the circuits closed",
    )
    assert set(
        Delivery.objects.filter(notification_id=notification_id).values_list("attempts", flat=True)
    ) == {2}
    assert not DeliveryEvent.objects.filter(
        delivery__notification_id=notification_id, status="dead"
    ).exists()
    recovered = (
        http_server.requests[CIRCUIT_THRESHOLD:] + backup_server.requests[CIRCUIT_THRESHOLD:]
    )
    assert sorted(r.form()["To"][0] for r in recovered) == sorted(
        phone(100 + n) for n in range(count)
    )


def test_the_send_time_budget_hands_the_rest_of_a_slow_batch_back(
    failure_worker, live, live_api, http_server, unique
):
    # given: a provider taking 0.35 s per message, so one batch of 12 outlasts the budget
    twilio_integration(http_server)
    http_server.respond(201, {"sid": "SM-slow"}, delay=0.35)
    event = make_workflow(unique, [{"channel": "sms"}], priority="low")
    bulk = [{"subscriber_id": f"t-{unique}-{n}", "phone": phone(200 + n)} for n in range(12)]
    bulk_id = trigger(live_api, event, bulk, order_id="BULK")
    http_server.wait_for(1, timeout=30)

    # when: another notification arrives on the same queue while that batch is being sent
    later_id = trigger(
        live_api, event, [{"subscriber_id": f"t-{unique}-late", "phone": phone(299)}], "LATE"
    )

    # then: every message arrives exactly once ...
    wait_until(lambda: statuses(bulk_id) == {"sent": 12}, timeout=30, what="the bulk batch")
    wait_until(lambda: statuses(later_id) == {"sent": 1}, timeout=10, what="the later one")
    recipients = Counter(r.form()["To"][0] for r in http_server.requests)
    assert recipients == Counter([phone(200 + n) for n in range(12)] + [phone(299)])
    assert set(
        Delivery.objects.filter(notification_id__in=[bulk_id, later_id]).values_list(
            "attempts", flat=True
        )
    ) == {1}
    # ... and the later notification did not wait for the whole slow batch: its rest was
    # handed to a new task, queued behind the later notification's work
    bodies = [r.form()["Body"][0] for r in http_server.requests]
    last_of_bulk = max(i for i, body in enumerate(bodies) if body == "Order BULK shipped")
    assert bodies.index("Order LATE shipped") < last_of_bulk, bodies
    assert notification_done(later_id)


DIGEST_WINDOW = 600


def inbox_titles(api, subscriber_id: str) -> list[str]:
    response = api.get(f"/api/v1/inbox/{subscriber_id}/messages", {"status": "all"})
    assert response.status_code == 200, response.content
    return sorted(m["body"] for m in response.json()["results"])


@pytest.mark.parametrize(
    "critical_workflow, request_priority",
    [(True, None), (False, "critical")],
    ids=["critical-workflow", "critical-priority"],
)
def test_a_critical_notification_is_never_digested(
    celery_worker, live, live_api, unique, critical_workflow, request_priority
):
    # given: a workflow that digests its events over ten minutes
    event = make_workflow(
        unique,
        [{"digest": DIGEST_WINDOW}, {"channel": "in_app"}],
        critical=critical_workflow,
    )
    subscriber_id = f"c-{unique}"
    extra = {"priority": request_priority} if request_priority else {}

    # when: three events for one subscriber
    ids = [trigger(live_api, event, [subscriber_id], order_id=f"C-{n}", **extra) for n in range(3)]

    # then: each is its own message, at once
    wait_until(
        lambda: (
            inbox_titles(live_api, subscriber_id)
            == ["Order C-0 shipped", "Order C-1 shipped", "Order C-2 shipped"]
        ),
        timeout=15,
        what="three separate in-app messages",
    )
    for notification_id in ids:
        assert statuses(notification_id) == {"sent": 1}
        assert live_api.get(f"/api/v1/notifications/{notification_id}").json()["priority"] == (
            "critical" if request_priority else "normal"
        )
    assert not DeliveryEvent.objects.filter(
        delivery__notification_id__in=ids, status__in=["pending", "digested"]
    ).exists()


def test_the_same_workflow_at_normal_priority_waits_for_its_digest_window(
    celery_worker, live, live_api, unique
):
    event = make_workflow(unique, [{"digest": DIGEST_WINDOW}, {"channel": "in_app"}])
    subscriber_id = f"n-{unique}"

    notification_id = trigger(live_api, event, [subscriber_id])

    wait_until(lambda: notification_done(notification_id), what="fan-out")
    delivery = the_delivery(notification_id)
    assert delivery.status == "pending"
    wait_ahead = (delivery.next_attempt_at - delivery.created_at).total_seconds()
    assert wait_ahead == pytest.approx(DIGEST_WINDOW, abs=1)
    assert inbox_titles(live_api, subscriber_id) == []
