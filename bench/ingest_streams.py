"""Benchmark: events/s from a Redis stream into committed notifications, beside a bare loop.

N events are added to a stream (pipelined XADD) while one `manage.py consume_events` process
consumes it; the time runs from the first XADD until the N notifications are committed and
acknowledged. The peer, in the same run and on the same servers, is the floor of any consumer:
XREADGROUP, parse the JSON, INSERT one notification row, XACK — no validation, idempotency
lock, route lookup, recipients or task publish. Prints the machine, each round's events/s and
the ratio consumer / bare loop.

Usage: python bench/ingest_streams.py [--events 5000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from urllib.parse import urlsplit

import harness

EVENT = "bench.ingest"


def stream_source(redis_url: str, stream: str) -> str:
    parts = urlsplit(redis_url)
    return parts._replace(path=f"{parts.path.rstrip('/')}/{stream}").geturl()


def events(slug: str, tag: str, count: int):
    for n in range(count):
        yield json.dumps(
            {
                "tenant": slug,
                "event": EVENT,
                "to": [f"bench-{n % 1000 + 1}"],
                "payload": {"order_id": f"{tag}-{n}"},
                "transaction_id": f"{tag}-{n}",
            }
        )


def xadd_all(client, stream: str, bodies) -> None:
    pipe = client.pipeline(transaction=False)
    for n, body in enumerate(bodies, 1):
        pipe.xadd(stream, {"body": body})
        if n % 500 == 0:
            pipe.execute()
    pipe.execute()


def committed(tag: str) -> int:
    from notifications.models import Notification

    return Notification.objects.filter(transaction_id__startswith=f"{tag}-").count()


def consumer_round(client, tenant, env, *, count: int, timeout: float) -> float:
    """Seconds for `consume_events` to commit and acknowledge `count` events."""
    stream, tag = f"bench-{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:6]}"
    client.xgroup_create(stream, "clarion", id="0", mkstream=True)
    processes = harness.Processes(env)
    try:
        processes.start(
            f"consumer-{stream}",
            [
                sys.executable,
                "manage.py",
                "consume_events",
                "--source",
                stream_source(env["REDIS_URL"], stream),
                "--consumer",
                "bench",
                "--prefetch",
                "100",
            ],
        )
        # Started once it is a member of the group (it has read, finding nothing).
        deadline = time.monotonic() + 60
        while not client.xinfo_consumers(stream, "clarion"):
            if time.monotonic() > deadline:
                raise SystemExit(f"the consumer did not start; see {harness.LOG_DIR}")
            time.sleep(0.1)
        started = time.perf_counter()
        xadd_all(client, stream, events(tenant.slug, tag, count))
        with harness.in_schema(tenant.schema_name):
            while committed(tag) < count or client.xpending(stream, "clarion")["pending"]:
                if time.perf_counter() - started > timeout:
                    raise SystemExit(f"{committed(tag)} of {count} committed after {timeout} s")
                time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        processes.stop()
        client.delete(stream)


def bare_round(client, tenant, *, count: int) -> float:
    """Seconds for the bare loop (this process) to read, insert and acknowledge `count`."""
    from django.db import transaction
    from django.utils import timezone

    from notifications.models import Notification, Route

    stream, tag = f"bench-{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:6]}"
    client.xgroup_create(stream, "clarion", id="0", mkstream=True)
    with harness.in_schema(tenant.schema_name):
        route = Route.objects.get(event=EVENT)
        started = time.perf_counter()
        xadd_all(client, stream, events(tenant.slug, tag, count))
        done = 0
        while done < count:
            reply = client.xreadgroup("clarion", "bare", {stream: ">"}, count=100, block=1000)
            for entry_id, fields in reply[0][1] if reply else []:
                data = json.loads(fields[b"body"])
                with transaction.atomic():
                    now = timezone.now()
                    Notification.objects.create(
                        event=data["event"],
                        route_id=route.pk,
                        workflow_id=route.workflow_id,
                        priority=route.priority,
                        transaction_id=data["transaction_id"],
                        request_hash="",
                        payload=data["payload"],
                        recipients={"subscribers": [], "topics": []},
                        created_at=now,
                        dispatched_at=now,
                    )
                client.xack(stream, "clarion", entry_id)
                done += 1
        seconds = time.perf_counter() - started
    client.delete(stream)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    env = harness.bench_env()
    print(f"machine: {harness.machine()}")
    harness.prepare(env=env)
    tenant, _ = harness.create_tenant()
    harness.trigger_setup(schema=tenant.schema_name)
    with harness.in_schema(tenant.schema_name):
        from notifications.models import Route, Workflow

        # No steps: only the acceptance (trigger service, commit, publish) is measured.
        Route.objects.create(
            event=EVENT, workflow=Workflow.objects.create(key="ingest", name="Ingest")
        )
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    rates: dict[str, list[float]] = {"consume_events": [], "bare loop": []}
    for n in range(args.rounds):
        for kind in rates:
            if kind == "consume_events":
                seconds = consumer_round(
                    client, tenant, env, count=args.events, timeout=args.timeout
                )
            else:
                seconds = bare_round(client, tenant, count=args.events)
            rates[kind].append(args.events / seconds)
            print(
                f"round {n + 1}, {kind:>14}: {args.events} events in {seconds:.2f} s = "
                f"{args.events / seconds:,.0f} events/s"
            )
    consumer, bare = statistics.mean(rates["consume_events"]), statistics.mean(rates["bare loop"])
    print(
        f"mean: consume_events {consumer:,.0f} events/s, bare loop {bare:,.0f} events/s; "
        f"consume_events / bare loop = {consumer / bare:.3f} (one consumer, prefetch 100)"
    )


if __name__ == "__main__":
    main()
