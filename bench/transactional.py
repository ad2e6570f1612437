"""Benchmark: transactional traffic — single-recipient events — through the processes
`make demo` starts, beside the rate the same workers drain no-op Celery tasks.

1. Peer: `--tasks` no-op tasks (Celery's built-in `celery.accumulate`) queued on `normal`
   while its worker does not consume, then drained by the demo's workers; tasks/s.
2. Burst: `--events` single-recipient events accepted through the trigger service the same
   way, then processed: events/s until every delivery is out; the ratio to the peer.
3. Sustained: the demo's web server and workers together, wrk at `--connections` for
   `--duration` s: accepted events/s, processed events/s and the backlog every 10 s (a
   backlog that keeps growing means processing cannot keep up with the front door).

`--channel in_app` (default) or `email` (the real SMTP connector to a local sink). With
`--profile` (or `--profile sustained`), py-spy samples the `normal` worker's processes
through the first 30 s of the burst (or of the sustained run) and prints the functions
holding most samples (needs py-spy).

Usage: python bench/transactional.py [--channel in_app] [--events 3000] [--duration 60]
                                    [--profile [burst|sustained]]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import harness
from aiosmtpd.controller import Controller
from trigger_api import profile_report, profile_start, py_spy, wait_for_http

from platform_core.processes import DEMO_WORKERS

# Delivery statuses still on their way out.
IN_FLIGHT = ["pending", "queued", "sending"]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def start_workers(processes: harness.Processes) -> list[str]:
    names = []
    for queue, concurrency in DEMO_WORKERS.items():
        processes.worker(queue, concurrency, name=f"worker-{queue}")
        names.append(f"worker-{queue}")
    harness.wait_for_workers(names)
    return names


def queue_length(queue: str = "normal") -> int:
    from platform_core.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.client.llen(queue)


def unfinished(schema: str) -> int:
    """Notifications not yet processed, or with a delivery not yet out."""
    from django.db import connection

    with harness.in_schema(schema), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (SELECT count(*) FROM notifications_notification n
                     WHERE NOT EXISTS (SELECT 1 FROM notifications_delivery d
                                        WHERE d.notification_id = n.id))
                 + (SELECT count(*) FROM notifications_delivery
                     WHERE status = ANY(%s))
            """,
            [IN_FLIGHT],
        )
        return cursor.fetchone()[0]


def processed(schema: str) -> int:
    from django.db import connection

    with harness.in_schema(schema), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT notification_id) FROM notifications_delivery "
            "WHERE status <> ALL(%s)",
            [IN_FLIGHT],
        )
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--channel", choices=["in_app", "email"], default="in_app")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--profile",
        nargs="?",
        const="burst",
        choices=["burst", "sustained"],
        help="py-spy the normal worker through the first 30 s of the burst (default) or of "
        "the sustained run",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("this benchmark needs wrk: apt install wrk")
    if args.profile and not py_spy():
        raise SystemExit("--profile needs py-spy: pip install py-spy")

    env = harness.bench_env()
    print(f"machine: {harness.machine()}")
    harness.prepare(env=env)
    tenant, key = harness.create_tenant()
    schema = tenant.schema_name
    from notifications.models import Integration, Template
    from notifications.services.trigger import event_trigger
    from platform_core.celery import app

    controller = None
    with harness.in_schema(schema):
        harness.bulk_subscribers(count=1000, topic_key="bench", email_domain="example.com")
        if args.channel == "email":
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                smtp_port = probe.getsockname()[1]
            controller = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
            controller.start()
            Template.objects.create(
                key="t",
                channel="email",
                subject="Order {{ payload.order_id }}",
                body="<p>Hi {{ subscriber.first_name }}, order {{ payload.order_id }}.</p>",
            )
            Integration.objects.create(
                channel="email",
                provider="smtp",
                name="sink",
                settings={
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "use_tls": False,
                    "from_email": "bench@clarion.test",
                },
            )
        else:
            Template.objects.create(key="t", channel="in_app", body="Order {{ payload.order_id }}")
        harness.single_step_route(event="bench.trigger", channel=args.channel, template_key="t")

    workers = ", ".join(f"{queue} x{n}" for queue, n in DEMO_WORKERS.items())
    print(f"channel {args.channel}; the demo's workers: {workers}")
    try:
        # 1 and 2 run on the same workers; their `normal` consumer is paused while the work
        # is queued, then resumed with the clock started.
        processes = harness.Processes(env)
        try:
            start_workers(processes)
            normal = [f"worker-normal@{socket.gethostname()}"]

            def drain(until_done, profile: bool = False) -> float:
                app.control.add_consumer("normal", destination=normal, reply=True)
                if profile:
                    spies = profile_start(processes.children["worker-normal"].pid, 30)
                started = time.perf_counter()
                while not until_done():
                    if time.perf_counter() - started > args.timeout:
                        raise SystemExit("timed out")
                    time.sleep(0.05)
                took = time.perf_counter() - started
                if profile:
                    profile_report(spies)
                return took

            app.control.cancel_consumer("normal", destination=normal, reply=True)
            with app.producer_or_acquire() as producer:
                for _ in range(args.tasks):
                    app.send_task(
                        "celery.accumulate", queue="normal", ignore_result=True, producer=producer
                    )
            noop_rate = args.tasks / drain(lambda: queue_length() == 0)
            print(f"no-op tasks: {args.tasks} drained at {noop_rate:,.0f} tasks/s")

            app.control.cancel_consumer("normal", destination=normal, reply=True)
            with harness.in_schema(schema):
                for n in range(args.events):
                    data = {
                        "event": "bench.trigger",
                        "to": [f"bench-{n % 1000 + 1}"],
                        "payload": {"order_id": f"B-{n}"},
                        "transaction_id": f"burst-{n}",
                    }
                    event_trigger(data=data, raw=data)
            burst_rate = args.events / drain(
                lambda: unfinished(schema) == 0, profile=args.profile == "burst"
            )
        finally:
            processes.stop()
        print(
            f"burst: {args.events} single-recipient events processed at {burst_rate:,.0f} "
            f"events/s = {burst_rate / noop_rate:.2f}x the no-op task rate"
        )

        # 3. Sustained: web and workers together under wrk.
        processes = harness.Processes(env)
        try:
            start_workers(processes)
            processes.start(
                "web",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "platform_core.wsgi",
                    "-c",
                    str(harness.BASE_DIR / "docker" / "gunicorn.conf.py"),
                    "--bind",
                    f"127.0.0.1:{args.port}",
                ],
                LOG_LEVEL="WARNING",
            )

            wait_for_http(args.port, "/healthz")
            base = processed(schema)
            samples: list[str] = []
            stop = threading.Event()

            def sample() -> None:
                start = time.perf_counter()
                while not stop.wait(10):
                    samples.append(
                        f"{time.perf_counter() - start:.0f}s backlog {unfinished(schema)}"
                    )

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            if args.profile == "sustained":
                spies = profile_start(processes.children["worker-normal"].pid, 30)
            started = time.perf_counter()
            result = subprocess.run(
                [
                    "wrk",
                    "-t",
                    "2",
                    "-c",
                    str(args.connections),
                    "-d",
                    f"{args.duration}s",
                    "--timeout",
                    "10s",
                    "-s",
                    str(harness.BASE_DIR / "bench" / "trigger.lua"),
                    f"http://127.0.0.1:{args.port}",
                ],
                env={**os.environ, "CLARION_KEY": key, "CLARION_RUN": "sustained"},
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.perf_counter() - started
            done_in_run = processed(schema) - base
            stop.set()
            if args.profile == "sustained":
                profile_report(spies)
            line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
            statuses = dict(
                part.split("=") for part in line.split("statuses=")[1].split(",") if part
            )
            accepted = int(statuses.get("202", 0))
            backlog = unfinished(schema)
        finally:
            processes.stop()
        print(
            f"sustained {args.duration} s at {args.connections} connections: "
            f"{accepted / wall:,.0f} accepted events/s, {done_in_run / wall:,.0f} processed "
            f"events/s ({done_in_run / max(accepted, 1):.2f} of accepted; responses "
            f"{','.join(f'{code}={n}' for code, n in statuses.items())}), backlog at the end "
            f"{backlog}; " + "; ".join(samples)
        )
    finally:
        if controller is not None:
            controller.stop()


if __name__ == "__main__":
    main()
