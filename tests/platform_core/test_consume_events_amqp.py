"""`manage.py consume_events` on a RabbitMQ queue (skipped where no RabbitMQ runs)."""

from __future__ import annotations

import json
import os
import signal
import uuid

import pytest
from kombu import Connection, Exchange, Producer, Queue

from notifications.models import Notification, Subscriber
from tests.conftest import stop_process
from tests.notifications.pipeline_helpers import make_workflow, wait_until
from tests.platform_core.bus_helpers import (
    amqp_url,
    consumer_log,
    lock_waiters,
    running,
    source_url,
    start_consumer,
    subscriber_row_locked,
)

pytestmark = pytest.mark.worker


@pytest.fixture
def rabbit(unique):
    """A connection to the test RabbitMQ and a queue name of this test; both queues deleted
    after."""
    url = amqp_url()
    name = f"clarion-test-{unique}-{uuid.uuid4().hex[:6]}"
    with Connection(url, connect_timeout=2) as conn:
        yield conn, url, name
        channel = conn.channel()
        for queue in (name, f"{name}.dead"):
            Queue(queue, channel=channel).delete()
        channel.close()


def publish(conn: Connection, queue: str, body: str | dict, **properties) -> None:
    """As a producer would: persistent, to the default exchange with the queue as key."""
    raw = body if isinstance(body, str) else json.dumps(body)
    with conn.channel() as channel:
        Queue(queue, exchange=Exchange(""), routing_key=queue, durable=True)(channel).declare()
        Producer(channel).publish(
            raw.encode(),
            exchange="",
            routing_key=queue,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            **properties,
        )


def depth(conn: Connection, queue: str) -> int:
    """Messages ready in `queue` (not counting unacknowledged ones), by a passive declare."""
    with conn.channel() as channel:
        return channel.queue_declare(queue=queue, passive=True).message_count


def drain(conn: Connection, queue: str) -> list:
    """Every message ready in `queue`, acknowledged."""
    got = []
    with conn.channel() as channel:
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            got.append(message)
    return got


def message(tenant: str, event: str, n, **extra) -> dict:
    return {
        "tenant": tenant,
        "event": event,
        "to": [f"amqp-sub-{n}"],
        "payload": {"order_id": f"Q-{n}"},
        "transaction_id": f"{event}-{n}",
        **extra,
    }


def committed(event: str) -> list[str]:
    return sorted(Notification.objects.filter(event=event).values_list("transaction_id", flat=True))


def test_published_events_are_committed_once_and_invalid_ones_dead_lettered(live, unique, rabbit):
    # given good, repeated and invalid messages on a queue
    conn, url, queue = rabbit
    event = make_workflow(unique, [])
    slug = live.tenant.slug
    for n in range(20):
        publish(conn, queue, message(slug, event, n))
    publish(conn, queue, message(slug, event, 3))  # the same transaction_id again
    publish(conn, queue, "[1, 2")
    publish(conn, queue, message("no-such-tenant", event, 99))
    publish(conn, queue, message(slug, event, 98, priority="urgent"))
    no_key = {k: v for k, v in message(slug, event, "m").items() if k != "transaction_id"}
    publish(conn, queue, no_key, message_id="msg-1")
    publish(conn, queue, no_key, message_id="msg-1")  # redelivered by its producer
    publish(conn, queue, message(slug, event, "last"))

    # when one consumer runs through them
    name = f"amqp-{unique}"
    proc = start_consumer(source_url(url, queue), name, "--prefetch", "5")
    try:
        wait_until(
            lambda: running(proc, name) and len(committed(event)) == 22 and depth(conn, queue) == 0,
            timeout=60,
            what="the good messages accepted",
        )
    finally:
        stop_process(proc)

    # then each good one is committed once
    assert committed(event) == sorted(
        [f"{event}-{n}" for n in range(20)] + [f"bus:{queue}:msg-1", f"{event}-last"]
    )
    # and each invalid one waits in the dead-letter queue, body as sent, error in a header
    dead = {
        json.loads(m.headers["x-clarion-error"])["code"]: (
            json.loads(m.headers["x-clarion-error"]),
            m.body if isinstance(m.body, bytes) else m.body.encode(),
        )
        for m in drain(conn, f"{queue}.dead")
    }
    assert dead.keys() == {"malformed_json", "unknown_tenant", "validation_error"}
    assert dead["malformed_json"][1] == b"[1, 2"
    assert dead["unknown_tenant"][1] == json.dumps(message("no-such-tenant", event, 99)).encode()
    assert dead["unknown_tenant"][0]["fields"] == {"tenant": ["No active tenant with this slug."]}
    error, body = dead["validation_error"]
    assert body == json.dumps(message(slug, event, 98, priority="urgent")).encode()
    assert "priority" in error["fields"]
    assert depth(conn, queue) == 0
    assert proc.returncode == 0
    assert "stopped: 24 accepted, 3 dead-lettered" in consumer_log(name)


def test_a_consumer_killed_before_the_commit_leaves_the_message_to_be_redelivered(
    live, unique, rabbit
):
    # given a message whose acceptance is held up inside its transaction
    conn, url, queue = rabbit
    event = make_workflow(unique, [])
    Subscriber.objects.create(subscriber_id=f"held-{unique}")
    held = message(live.tenant.slug, event, "held", to=[{"subscriber_id": f"held-{unique}"}])
    publish(conn, queue, held)
    source = source_url(url, queue)
    with subscriber_row_locked(live.schema, f"held-{unique}") as lock:
        first = start_consumer(source, f"k1-{unique}")
        try:
            wait_until(
                lambda: running(first, f"k1-{unique}") and lock_waiters(lock) == 1,
                timeout=60,
                what="the consumer inside the message",
            )
            assert depth(conn, queue) == 0  # delivered, not acknowledged
        finally:
            # when the consumer is killed before it could commit
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    # then nothing was committed, and the broker holds the message again
    assert committed(event) == []
    wait_until(lambda: depth(conn, queue) == 1, timeout=30, what="the message back in the queue")

    # and the next consumer commits it once
    second = start_consumer(source, f"k2-{unique}")
    try:
        wait_until(
            lambda: running(second, f"k2-{unique}") and committed(event) == [f"{event}-held"],
            timeout=60,
            what="the redelivered message accepted",
        )
        wait_until(lambda: depth(conn, queue) == 0, timeout=10)
    finally:
        stop_process(second)
    assert second.returncode == 0
    assert "stopped: 1 accepted" in consumer_log(f"k2-{unique}")
    assert drain(conn, f"{queue}.dead") == []
