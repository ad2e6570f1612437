"""Benchmark: one trigger to a topic of N subscribers on the email channel, through SMTP.

A local SMTP sink (aiosmtpd, in this process) receives every message; the real SMTP
connector sends them, one connection per batch. Prints seconds until every delivery is sent,
deliveries/s, messages received, and the peak RSS of every worker process; then, as the
peer, a bare `smtplib` loop sending the same messages (the same subject, HTML and text
parts, to the same addresses) to the same sink over one connection, and the ratio.

Usage: python bench/fanout_email.py [--subscribers 10000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import smtplib
import socket
import threading
import time
from email.message import EmailMessage

import harness
from aiosmtpd.controller import Controller


class Sink:
    """Counts messages; keeps nothing."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    sink = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = harness.bench_env()
    print(f"machine: {harness.machine()}")
    harness.prepare(env=env)
    tenant, _ = harness.create_tenant()
    from notifications.models import Integration, Template

    with harness.in_schema(tenant.schema_name):
        harness.bulk_subscribers(
            count=args.subscribers, topic_key="everyone", email_domain="example.com"
        )
        Template.objects.create(
            key="shipped",
            channel="email",
            subject="Order {{ payload.order_id }} shipped",
            body="<p>Hi {{ subscriber.first_name }},</p><p>order <b>{{ payload.order_id }}</b> "
            'is on its way. <a href="https://shop.example.com/o/1">Track it</a></p>',
        )
        Integration.objects.create(
            channel="email",
            provider="smtp",
            name="sink",
            settings={
                "host": "127.0.0.1",
                "port": port,
                "use_tls": False,
                "from_email": "bench@clarion.test",
            },
        )
        harness.single_step_route(event="bench.email", channel="email", template_key="shipped")

    try:
        result = harness.fanout_with_worker(
            env=env,
            schema=tenant.schema_name,
            concurrency=args.concurrency,
            event="bench.email",
            payload={"order_id": "E-1"},
            timeout=args.timeout,
        )
        sent, elapsed = result["sent"], result["seconds"]
        print(
            f"email fan-out: {sent} of {args.subscribers} sent in {elapsed:.2f} s "
            f"= {sent / elapsed:,.0f} emails/s end to end through SMTP "
            f"(worker concurrency {args.concurrency}); the sink received {sink.count}"
        )
        print(result["cpu"])
        print("peak RSS per worker process:")
        print(result["rss"])
        received, started = sink.count, time.perf_counter()
        bare = bare_smtplib_loop(port=port, count=args.subscribers)
        bare_seconds = time.perf_counter() - started
        print(
            f"bare smtplib loop: {bare} sent in {bare_seconds:.2f} s = "
            f"{bare / bare_seconds:,.0f} emails/s (one process, one connection); the sink "
            f"received {sink.count - received}"
        )
        print(f"email fan-out / bare smtplib loop: {(sent / elapsed) / (bare / bare_seconds):.2f}x")
    finally:
        controller.stop()


def bare_smtplib_loop(*, port: int, count: int) -> int:
    """Send the messages Clarion sent, built by hand, over one SMTP connection."""
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(1, count + 1):
            message = EmailMessage()
            message["Subject"] = "Order E-1 shipped"
            message["From"] = "bench@clarion.test"
            message["To"] = f"bench-{n}@example.com"
            message.set_content(
                f"Hi Name{n},\n\norder E-1 is on its way. Track it: https://shop.example.com/o/1"
            )
            message.add_alternative(
                f"<p>Hi Name{n},</p><p>order <b>E-1</b> is on its way. "
                '<a href="https://shop.example.com/o/1">Track it</a></p>',
                subtype="html",
            )
            smtp.send_message(message)
    return count


if __name__ == "__main__":
    main()
