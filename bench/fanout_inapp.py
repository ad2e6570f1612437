"""Benchmark: one trigger to a topic of N subscribers on the in-app channel.

Prints seconds until every delivery is sent, deliveries/s end to end, and the peak RSS of
every worker process. Usage: python bench/fanout_inapp.py [--subscribers 100000]
                                                          [--concurrency 2]
"""

from __future__ import annotations

import argparse
import time

import harness
from django.db.models import Max
from django.utils import timezone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--personal",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the template names the subscriber (rendered per recipient) or not (once)",
    )
    args = parser.parse_args()

    env = harness.bench_env()
    print(f"machine: {harness.machine()}")
    harness.prepare(env=env)
    tenant, _ = harness.create_tenant()
    from notifications.models import Delivery, Route, Template, Workflow, WorkflowStep
    from notifications.services.trigger import event_trigger

    with harness.in_schema(tenant.schema_name):
        started = time.perf_counter()
        harness.bulk_subscribers(count=args.subscribers, topic_key="everyone")
        print(f"set-up: {args.subscribers} subscribers in {time.perf_counter() - started:.1f} s")
        if args.personal:
            subject = "Hi {{ subscriber.first_name }}"
            body = "Order {{ payload.order_id }} for {{ subscriber.first_name }} has shipped."
        else:
            subject, body = "Hi", "Order {{ payload.order_id }} has shipped."
        Template.objects.create(key="welcome", channel="in_app", subject=subject, body=body)
        workflow = Workflow.objects.create(key="fanout", name="Fan-out")
        WorkflowStep.objects.create(
            workflow=workflow, position=0, type="send", channel="in_app", template_key="welcome"
        )
        Route.objects.create(event="bench.fanout", workflow=workflow, priority="normal")

    processes = harness.Processes(env)
    try:
        worker = processes.worker("normal", args.concurrency)
        harness.wait_for_workers(["worker-normal"])
        with harness.in_schema(tenant.schema_name), harness.RssSampler({"normal": worker}) as rss:
            data = {
                "event": "bench.fanout",
                "to": [{"topic": "everyone"}],
                "payload": {"order_id": "B-1"},
            }
            cpu_before = harness.cpu_seconds()
            started = time.perf_counter()
            notification_id = event_trigger(data=data, raw=data).body["notification_id"]
            triggered_at = timezone.now()
            deliveries = Delivery.objects.filter(notification_id=notification_id)
            # Polls a cheap question (is anything still queued?) so the database works for the
            # pipeline, not for the stopwatch; the time is read from the rows afterwards.
            while not deliveries.exists() or deliveries.filter(status="queued").exists():
                if time.perf_counter() - started > args.timeout:
                    raise SystemExit("timed out")
                time.sleep(0.5)
            cpu_after = harness.cpu_seconds()
            wall = time.perf_counter() - started
            sent = deliveries.filter(status="sent").count()
            last = deliveries.aggregate(last=Max("sent_at"))["last"]
            elapsed = (last - triggered_at).total_seconds()
        if sent != args.subscribers:
            raise SystemExit(f"only {sent} of {args.subscribers} deliveries were sent")
        kind = "personalised" if args.personal else "same text for all"
        print(
            f"in-app fan-out ({kind}): {args.subscribers} deliveries in {elapsed:.2f} s "
            f"= {args.subscribers / elapsed:,.0f} deliveries/s end to end, trigger to last sent "
            f"(worker: concurrency {args.concurrency})"
        )
        print(harness.cpu_report(cpu_before, cpu_after, wall))
        print("peak RSS per worker process:")
        print(rss.report())
    finally:
        processes.stop()


if __name__ == "__main__":
    main()
