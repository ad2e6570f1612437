"""`manage.py consume_events` on a Redis stream: real consumer processes, the test Redis."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest
import redis
from django.conf import settings

from notifications.models import Notification, Subscriber
from tests.conftest import stop_process
from tests.notifications.pipeline_helpers import make_workflow, wait_until
from tests.platform_core.bus_helpers import (
    consumer_log,
    lock_waiters,
    running,
    source_url,
    start_consumer,
    subscriber_row_locked,
)

pytestmark = pytest.mark.worker


@pytest.fixture
def streams(unique):
    """The test Redis, and the names of a stream and its dead-letter stream, deleted after."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    stream = f"test-events-{unique}"
    yield client, stream
    client.delete(stream, f"{stream}.dead")
    client.close()


def message(tenant: str, event: str, n: int | str, **extra) -> dict:
    return {
        "tenant": tenant,
        "event": event,
        "to": [f"bus-sub-{n}"],
        "payload": {"order_id": f"B-{n}"},
        "transaction_id": f"{event}-{n}",
        **extra,
    }


def committed(event: str) -> int:
    return Notification.objects.filter(event=event).count()


def pending(client: redis.Redis, stream: str, consumer: str | None = None) -> int:
    if consumer is None:
        return client.xpending(stream, "clarion")["pending"]
    return len(client.xpending_range(stream, "clarion", "-", "+", 10_000, consumername=consumer))


def test_a_consumer_sigkilled_midway_loses_nothing_and_a_second_one_commits_each_event_once(
    live, unique, streams
):
    # given 1,000 events on a stream (no steps: only their acceptance is measured)
    client, stream = streams
    event = make_workflow(unique, [])
    total = 1000
    pipe = client.pipeline(transaction=False)
    for n in range(total):
        pipe.xadd(stream, {"body": json.dumps(message(live.tenant.slug, event, n))})
    pipe.execute()
    source = source_url(settings.REDIS_URL, stream)

    # when the first consumer is SIGKILLed a third of the way through
    first = start_consumer(source, f"c1-{unique}", "--prefetch", "20", "--claim-min-idle", "1")
    try:
        wait_until(
            lambda: running(first, f"c1-{unique}") and committed(event) >= total // 3,
            timeout=90,
            what="a third accepted",
        )
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    left_pending = pending(client, stream, f"c1-{unique}")
    accepted_before = committed(event)
    assert accepted_before < total

    # and a second consumer takes over
    second = start_consumer(source, f"c2-{unique}", "--claim-min-idle", "1")
    try:
        wait_until(
            lambda: (
                running(second, f"c2-{unique}")
                and committed(event) == total
                and pending(client, stream) == 0
            ),
            timeout=120,
            what="every event accepted and acknowledged",
        )
    finally:
        stop_process(second)

    # then every event is committed exactly once, none is pending, none dead-lettered
    transaction_ids = list(
        Notification.objects.filter(event=event).values_list("transaction_id", flat=True)
    )
    assert sorted(transaction_ids) == sorted(f"{event}-{n}" for n in range(total))
    assert pending(client, stream) == 0
    assert client.xlen(f"{stream}.dead") == 0
    assert second.returncode == 0
    log = consumer_log(f"c2-{unique}")
    if left_pending:
        # what the killed consumer had read but not acknowledged was reclaimed
        reclaimed = re.search(r"(\d+) reclaimed", log)
        assert reclaimed and int(reclaimed.group(1)) >= left_pending, log[-2000:]


def test_invalid_messages_are_dead_lettered_with_their_error_and_consumption_goes_on(
    live, unique, streams
):
    # given good, duplicate and invalid messages, in that order on one stream
    client, stream = streams
    event = make_workflow(unique, [])
    slug = live.tenant.slug
    bodies = [
        json.dumps(message(slug, event, 1)),
        "{not json",
        json.dumps(message("no-such-tenant", event, 2)),
        json.dumps(message(slug, event, 3, to="bus-sub-3")),
        json.dumps(message(slug, f"unrouted-{unique}", 4)),
        json.dumps(message(slug, event, 1)),  # the same transaction_id again
        json.dumps({k: v for k, v in message(slug, event, 5).items() if k != "transaction_id"}),
    ]
    ids = [client.xadd(stream, {"body": body}).decode() for body in bodies]
    client.xadd(stream, {"payload": "no body field"})
    client.xadd(stream, {"body": json.dumps(message(slug, event, 6))})

    # when one consumer runs through them
    proc = start_consumer(source_url(settings.REDIS_URL, stream), f"dl-{unique}")
    try:
        wait_until(
            lambda: (
                running(proc, f"dl-{unique}")
                and committed(event) == 3
                and pending(client, stream) == 0
            ),
            timeout=60,
            what="the good messages accepted",
        )
    finally:
        stop_process(proc)

    # then the good ones are committed once each, the last one after every bad one
    assert sorted(
        Notification.objects.filter(event=event).values_list("transaction_id", flat=True)
    ) == sorted([f"{event}-1", f"bus:{stream}:{ids[6]}", f"{event}-6"])
    # and each bad one is in the dead-letter stream with its error and its body as sent
    dead = client.xrange(f"{stream}.dead")
    errors = [json.loads(fields[b"error"]) for _, fields in dead]
    assert [error["code"] for error in errors] == [
        "malformed_json",
        "unknown_tenant",
        "validation_error",
        "unknown_event",
        "invalid_message",
    ]
    assert "to" in errors[2]["fields"]
    assert errors[1]["fields"] == {"tenant": ["No active tenant with this slug."]}
    assert [fields[b"body"].decode() for _, fields in dead[:4]] == [
        bodies[1],
        bodies[2],
        bodies[3],
        bodies[4],
    ]
    assert [fields[b"source_id"].decode() for _, fields in dead[:4]] == ids[1:5]
    assert json.loads(dead[4][1][b"body"]) == {"payload": "no body field"}
    assert proc.returncode == 0


def test_sigterm_finishes_the_current_message_acknowledges_it_and_exits_0(live, unique, streams):
    # given a message whose acceptance is held up inside its transaction, and one behind it
    client, stream = streams
    event = make_workflow(unique, [])
    Subscriber.objects.create(subscriber_id=f"held-{unique}")
    held = message(live.tenant.slug, event, "held", to=[{"subscriber_id": f"held-{unique}"}])
    client.xadd(stream, {"body": json.dumps(held)})
    client.xadd(stream, {"body": json.dumps(message(live.tenant.slug, event, "next"))})
    name = f"term-{unique}"
    with subscriber_row_locked(live.schema, f"held-{unique}") as lock:
        proc = start_consumer(source_url(settings.REDIS_URL, stream), name, "--prefetch", "1")
        try:
            wait_until(
                lambda: running(proc, name) and lock_waiters(lock) == 1,
                timeout=60,
                what="the consumer waiting",
            )
            # when it is asked to stop mid-message
            os.killpg(proc.pid, signal.SIGTERM)
            with pytest.raises(AssertionError):
                wait_until(lambda: proc.poll() is not None, timeout=1)
        finally:
            lock.rollback()  # the held message may go on
        # then it finishes that message, acknowledges it and exits 0
        try:
            proc.wait(30)
        finally:
            stop_process(proc)
    assert proc.returncode == 0
    accepted = Notification.objects.filter(event=event).values_list("transaction_id", flat=True)
    assert list(accepted) == [f"{event}-held"]
    assert pending(client, stream) == 0
    # and the message behind it was not taken: it waits for the next consumer
    group = client.xinfo_groups(stream)[0]
    assert group["last-delivered-id"].decode() == client.xrange(stream)[0][0].decode()
    assert "stopped: 1 accepted" in consumer_log(name)


def test_a_message_whose_transaction_id_is_in_flight_elsewhere_waits_and_is_accepted_once(
    live, unique, streams
):
    import psycopg

    from notifications.services.trigger import _lock_id
    from platform_core import embedded
    from tests.conftest import session_database_url

    # given: another writer holds the idempotency lock of the message's transaction_id
    client, stream = streams
    event = make_workflow(unique, [])
    first = message(live.tenant.slug, event, "busy")
    name = f"busy-{unique}"
    with psycopg.connect(embedded._libpq(session_database_url())) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id(first["transaction_id"])])
        client.xadd(stream, {"body": json.dumps(first)})
        client.xadd(stream, {"body": json.dumps(message(live.tenant.slug, event, "after"))})
        proc = start_consumer(source_url(settings.REDIS_URL, stream), name)
        try:
            # when: the consumer meets it, it retries in place (nothing behind it overtakes)
            wait_until(
                lambda: running(proc, name) and "retrying" in consumer_log(name),
                timeout=60,
                what="a retry",
            )
            assert committed(event) == 0
            assert pending(client, stream) >= 1
        except BaseException:
            stop_process(proc)
            raise
        other.rollback()  # the other writer is done
    try:
        # then: once the lock is free it is accepted, then the next one, and nothing is lost
        wait_until(
            lambda: running(proc, name) and committed(event) == 2 and pending(client, stream) == 0,
            timeout=60,
            what="both accepted",
        )
    finally:
        stop_process(proc)
    assert client.xlen(f"{stream}.dead") == 0
    first_tx, second_tx = (
        Notification.objects.filter(event=event)
        .order_by("created_at")
        .values_list("transaction_id", flat=True)
    )
    assert (first_tx, second_tx) == (f"{event}-busy", f"{event}-after")
