"""The delivery pipeline end to end: API → PostgreSQL → Redis → real Celery workers → a
provider faked at the network boundary."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from notifications.models import Delivery, DeliveryEvent, InboxMessage, Notification
from notifications.pipeline.sweeper import tenant_sweep
from tests.conftest import ApiClient
from tests.notifications.pipeline_helpers import (
    make_topic,
    make_workflow,
    notification_done,
    smtp_integration,
    statuses,
    twilio_integration,
    wait_until,
)

pytestmark = pytest.mark.worker


@pytest.fixture
def fast_sweeps(settings):
    """In-process sweeps with the same short timings as the test workers."""
    settings.DELIVERY_REDISPATCH_SECONDS = 3
    settings.DELIVERY_LEASE_SECONDS = 4


def sweep_until(predicate, timeout=30, what=""):
    def step():
        tenant_sweep()
        return predicate()

    return wait_until(step, timeout=timeout, interval=0.3, what=what)


def test_topic_fan_out_arrives_once_per_subscriber_per_channel(
    celery_worker, live, live_api, smtp_server, unique
):
    # given: two overlapping topics and an explicit subscriber who is also in a topic
    smtp_integration(smtp_server)
    event = make_workflow(unique, [{"channel": "in_app"}, {"channel": "email"}])
    topic_a, ids_a = make_topic(unique, 180, prefix=f"a{unique}")
    topic_b, ids_b = make_topic(unique, 70, prefix=f"b{unique}")
    from notifications.models import Topic
    from notifications.services.topics import topic_add_subscribers

    topic_add_subscribers(topic=Topic.objects.get(key=topic_b), subscriber_ids=ids_a[:30])
    everyone = set(ids_a) | set(ids_b)

    # when
    response = live_api.post(
        "/api/v1/events/trigger",
        {
            "event": event,
            "to": [{"topic": topic_a}, {"topic": topic_b}, ids_a[5]],
            "payload": {"order_id": "A-1"},
        },
    )

    # then
    assert response.status_code == 202, response.content
    notification_id = response.json()["notification_id"]
    wait_until(lambda: notification_done(notification_id), what="fan-out")
    wait_until(
        lambda: statuses(notification_id).get("sent", 0) == 2 * len(everyone),
        timeout=60,
        what="every delivery sent",
    )
    smtp_server.wait_for(len(everyone), timeout=10)
    recipients = Counter(to for message in smtp_server.messages for to in message.get_all("To"))
    assert set(recipients) == {f"{sid}@example.com" for sid in everyone}
    assert max(recipients.values()) == 1
    inbox = Counter(
        InboxMessage.objects.filter(notification_id=notification_id).values_list(
            "subscriber__subscriber_id", flat=True
        )
    )
    assert set(inbox) == everyone and max(inbox.values()) == 1
    message = smtp_server.messages[0]
    assert message.get_content_type() == "multipart/alternative"
    detail = live_api.get(f"/api/v1/notifications/{notification_id}").json()
    assert detail["status"] == "processed"
    assert detail["stats"] == {"total": 2 * len(everyone), "sent": 2 * len(everyone)}
    assert len(detail["deliveries"]) == 100


def test_ten_concurrent_triggers_with_one_transaction_id_send_once(
    celery_worker, live, smtp_server, unique
):
    smtp_integration(smtp_server)
    event = make_workflow(unique, [{"channel": "email"}])
    body = {
        "event": event,
        "to": [{"subscriber_id": f"c-{unique}", "email": f"c-{unique}@example.com"}],
        "payload": {"order_id": "B-7"},
        "transaction_id": f"tx-{unique}",
    }
    barrier = threading.Barrier(10)
    results = []

    def trigger():
        client = ApiClient(live.host, live.key)
        barrier.wait()
        response = client.post("/api/v1/events/trigger", body)
        results.append((response.status_code, response.json(), response.get("Idempotent-Replayed")))
        from django.db import connection

        connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = Counter(code for code, _, _ in results)
    assert codes[202] == 1, results
    assert set(codes) <= {202, 200, 409}
    ids = {body["notification_id"] for code, body, _ in results if code in (200, 202)}
    assert len(ids) == 1
    assert all(replayed == "true" for code, _, replayed in results if code == 200)
    assert Notification.objects.filter(transaction_id=f"tx-{unique}").count() == 1
    notification_id = ids.pop()
    wait_until(lambda: statuses(notification_id).get("sent") == 1, what="the one email")
    # and a late duplicate still sends nothing
    late = ApiClient(live.host, live.key).post("/api/v1/events/trigger", body)
    assert late.status_code == 200 and late["Idempotent-Replayed"] == "true"
    smtp_server.wait_for(1, timeout=5)
    assert [m["To"] for m in smtp_server.messages] == [f"c-{unique}@example.com"]


def test_transient_failure_is_retried_then_sent(
    celery_worker, live, live_api, http_server, unique, fast_sweeps
):
    # given: the SMS provider answers 503 twice, then accepts
    twilio_integration(http_server)
    http_server.respond(503, {"message": "busy"}, times=2)
    http_server.respond(201, {"sid": "SM-ok"})
    event = make_workflow(unique, [{"channel": "sms", "body": "Code {{ payload.code }}"}])
    response = live_api.post(
        "/api/v1/events/trigger",
        {
            "event": event,
            "to": [{"subscriber_id": f"r-{unique}", "phone": "+14155550111"}],
            "payload": {"code": "9911"},
        },
    )
    notification_id = response.json()["notification_id"]

    # when: the sweeper hands the retries back to the workers
    delivery = sweep_until(
        lambda: Delivery.objects.filter(notification_id=notification_id, status="sent").first(),
        what="the SMS to be sent after retries",
    )

    # then
    assert delivery.attempts == 3
    assert delivery.provider_message_id == "SM-ok"
    history = list(DeliveryEvent.objects.filter(delivery=delivery).values_list("status", flat=True))
    assert history.count("failed") == 2 and history[-1] == "sent"
    assert len(http_server.requests) == 3
    assert http_server.requests[-1].form()["Body"] == ["Code 9911"]
    api_view = live_api.get(f"/api/v1/deliveries/{delivery.pk}").json()
    assert [e["status"] for e in api_view["events"]][-1] == "sent"
    assert any(e["provider_response_code"] == 503 for e in api_view["events"])


def test_permanent_failure_is_dead_lettered_then_replayed(
    celery_worker, live, live_api, http_server, unique
):
    twilio_integration(http_server)
    http_server.respond(400, {"code": 21211, "message": "Invalid 'To' Phone Number"}, times=1)
    event = make_workflow(unique, [{"channel": "sms"}])
    response = live_api.post(
        "/api/v1/events/trigger",
        {
            "event": event,
            "to": [{"subscriber_id": f"p-{unique}", "phone": "+14155550112"}],
            "payload": {"order_id": "X"},
        },
    )
    notification_id = response.json()["notification_id"]
    dead = wait_until(
        lambda: Delivery.objects.filter(notification_id=notification_id, status="dead").first(),
        what="dead letter",
    )
    assert dead.attempts == 1 and "21211" in dead.last_error
    listed = live_api.get(
        "/api/v1/deliveries", {"status": "dead", "notification_id": notification_id}
    )
    assert [d["id"] for d in listed.json()["results"]] == [dead.pk]

    # when: replayed once the provider accepts again
    http_server.respond(201, {"sid": "SM-replayed"})
    replay = live_api.post(f"/api/v1/deliveries/{dead.pk}/replay")

    # then
    assert replay.status_code == 202
    sent = wait_until(
        lambda: Delivery.objects.filter(pk=dead.pk, status="sent").first(), what="replayed send"
    )
    assert sent.provider_message_id == "SM-replayed"
    assert live_api.post(f"/api/v1/deliveries/{dead.pk}/replay").status_code == 409


def start_beat():
    import subprocess
    import sys

    from tests.conftest import BASE_DIR, worker_env

    log = open(BASE_DIR / ".data" / "test-beat.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "platform_core", "beat", "-l", "INFO", "--pidfile="],
        cwd=BASE_DIR,
        env=worker_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _accepted_low(live_api, event: str, prefix: str, count: int) -> list[str]:
    """`count` single-recipient events accepted on `low`, which no worker consumes."""
    return [
        live_api.post(
            "/api/v1/events/trigger",
            {"event": event, "to": [f"{prefix}-{n}"], "payload": {"order_id": n}},
        ).json()["notification_id"]
        for n in range(count)
    ]


def test_sigkilled_worker_and_flushed_redis_lose_nothing_and_send_nothing_twice(
    celery_worker, low_worker, live, live_api, smtp_server, unique
):
    import signal

    import redis
    from django.conf import settings

    from tests.conftest import start_worker, stop_process, wait_for_worker

    # given: 150 email recipients on the low queue, sent 50 per batch by one low worker,
    # and an SMTP server that stalls on the 71st message so the worker dies mid-batch
    smtp_integration(smtp_server)
    event = make_workflow(unique, [{"channel": "email"}], priority="low")
    topic, ids = make_topic(unique, 150)
    stalled, released = smtp_server.stall_after(70)

    response = live_api.post(
        "/api/v1/events/trigger",
        {"event": event, "to": [{"topic": topic}], "payload": {"order_id": "Z-9"}},
    )
    notification_id = response.json()["notification_id"]
    assert stalled.wait(60), (
        f"the worker never reached the 71st message: {statuses(notification_id)}"
    )

    # when: the worker is SIGKILLed mid-send and Redis loses every queued message
    stop_process(low_worker, sig=signal.SIGKILL)
    redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).flushdb()
    released.set()
    beat = start_beat()
    replacement = start_worker("low", "low-2", concurrency=1)
    try:
        wait_for_worker("low-2")
        # then: the sweeper re-dispatches the lost batch and the lapsed claim; all arrive once
        wait_until(
            lambda: statuses(notification_id) == {"sent": 150},
            timeout=90,
            what="all 150 deliveries sent after the crash",
        )
    finally:
        stop_process(beat)
        stop_process(replacement)

    recipients = Counter(m["To"] for m in smtp_server.messages)
    assert len(smtp_server.messages) == 150
    assert set(recipients) == {f"{sid}@example.com" for sid in ids}
    lapsed = DeliveryEvent.objects.filter(
        delivery__notification_id=notification_id, detail__startswith="lease expired"
    )
    redispatched = DeliveryEvent.objects.filter(
        delivery__notification_id=notification_id, detail__startswith="re-dispatched"
    )
    assert lapsed.count() == 1
    assert redispatched.count() >= 1


def test_critical_events_do_not_wait_behind_a_low_priority_backlog(
    celery_worker, live, live_api, unique
):
    from platform_core.broker import queue_depths
    from platform_core.celery import app

    def low_backlog() -> int:
        with app.connection_for_read() as conn:
            return queue_depths(conn, ["low"])["low"]

    # given: a backlog on the low queue that no worker is draining right now
    low_event = make_workflow(f"{unique}l", [{"channel": "in_app"}], priority="low")
    critical_event = make_workflow(
        f"{unique}c", [{"channel": "in_app"}], priority="critical", critical=True
    )
    backlog = _accepted_low(live_api, low_event, f"bulk-{unique}", 30)

    # when
    response = live_api.post(
        "/api/v1/events/trigger",
        {"event": critical_event, "to": [f"vip-{unique}"], "payload": {"order_id": "C-1"}},
    )

    # then: the critical one is delivered while the low backlog is still waiting
    notification_id = response.json()["notification_id"]
    wait_until(lambda: statuses(notification_id) == {"sent": 1}, timeout=15, what="critical")
    # (the 30 low events wait in the low queue: gathered, they may share messages)
    assert low_backlog() >= 1
    assert Notification.objects.filter(pk__in=backlog, status="accepted").count() == 30
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("low")


def test_events_accepted_together_share_a_task_and_each_is_processed_once(
    celery_worker, live, live_api, unique, settings, request
):
    from platform_core.broker import queue_depths
    from platform_core.celery import app

    settings.CLARION_DISPATCH_GATHER_MS = 200.0
    event = make_workflow(unique, [{"channel": "in_app"}], priority="low")

    # given: 20 low events accepted within one gathering window, no worker on `low` yet
    accepted = _accepted_low(live_api, event, f"g-{unique}", 20)
    with app.connection_for_read() as conn:
        wait_until(lambda: queue_depths(conn, ["low"])["low"] > 0, timeout=5, what="published")
        time.sleep(0.5)
        messages = queue_depths(conn, ["low"])["low"]

    # when: a worker drains the queue
    request.getfixturevalue("low_worker")

    # then: fewer messages than events, and every event delivered exactly once
    assert 1 <= messages < 20
    for notification_id in accepted:
        wait_until(lambda n=notification_id: statuses(n) == {"sent": 1}, what="processed")
    assert Delivery.objects.filter(notification_id__in=accepted).count() == 20


def test_a_batch_of_accepted_events_sends_what_it_queued_in_its_own_task(
    celery_worker, live, live_api, unique
):
    from notifications.tasks import notifications_process_task

    body = "Order {{ payload.order_id }}"
    event = make_workflow(unique, [{"channel": "in_app", "body": body}], priority="low")
    accepted = _accepted_low(live_api, event, f"b-{unique}", 3)

    # when: their batch task runs (here), with no worker on `low` for a send task to reach
    counts = notifications_process_task.run(accepted)

    # then: every one is sent by the time it returns, once
    assert counts == {"processed": 3, "failed": 0, "sent_here": 3}
    for n, notification_id in enumerate(accepted):
        assert statuses(notification_id) == {"sent": 1}
        bodies = InboxMessage.objects.filter(delivery__notification_id=notification_id)
        assert [m.body for m in bodies] == [f"Order {n}"]


def test_a_batch_task_claims_reads_and_marks_its_events_together(
    celery_worker, live, live_api, unique
):
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.tasks import notifications_process_task

    event = make_workflow(unique, [{"channel": "in_app"}], priority="low")
    accepted = _accepted_low(live_api, event, f"q-{unique}", 6)

    # when: their batch task runs here
    with CaptureQueriesContext(connection) as queries:
        counts = notifications_process_task.run(accepted)

    # then: all six are claimed in one statement, marked processed in one, their workflow
    # read once, and the send reads no notification again
    assert counts == {"processed": 6, "failed": 0, "sent_here": 6}
    assert [statuses(n) for n in accepted] == [{"sent": 1}] * 6
    statements = [" ".join(q["sql"].split()) for q in queries.captured_queries]
    updates = [s for s in statements if re.search(r'UPDATE "?notifications_notification\b', s)]
    assert len(updates) == 2
    assert len([s for s in statements if re.search(r'FROM "?notifications_workflow"? ', s)]) == 1
    assert not [
        s for s in statements if re.match(r'SELECT .* FROM "?notifications_notification\b', s)
    ]


def test_deliveries_beyond_one_send_batch_go_to_send_tasks(
    celery_worker, live, live_api, unique, settings, request
):
    from notifications.tasks import notifications_process_task

    settings.SEND_BATCH_SIZES = {**settings.SEND_BATCH_SIZES, "in_app": 2}
    event = make_workflow(unique, [{"channel": "in_app"}], priority="low")
    accepted = _accepted_low(live_api, event, f"t-{unique}", 3)

    # when: their batch task runs here
    counts = notifications_process_task.run(accepted)

    # then: one send batch is sent here; the third delivery waits for a worker on `low`
    assert counts == {"processed": 3, "failed": 0, "sent_here": 2}
    assert [statuses(n) for n in accepted] == [{"sent": 1}, {"sent": 1}, {"queued": 1}]
    request.getfixturevalue("low_worker")
    wait_until(lambda: statuses(accepted[2]) == {"sent": 1}, what="sent by a send task")
    assert [statuses(n) for n in accepted] == [{"sent": 1}] * 3
