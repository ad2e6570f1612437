"""Benchmark: one trigger to a topic of N subscribers on the in-app channel.

Prints seconds until every delivery is sent, deliveries/s end to end, and the peak RSS of
every worker process. Usage: python bench/fanout_inapp.py [--subscribers 100000]
                                                          [--concurrency 2]
"""

from __future__ import annotations

import argparse
import time

import harness


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
    from notifications.models import Template

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
        harness.single_step_route(event="bench.fanout", channel="in_app", template_key="welcome")

    result = harness.fanout_with_worker(
        env=env,
        schema=tenant.schema_name,
        concurrency=args.concurrency,
        event="bench.fanout",
        payload={"order_id": "B-1"},
        timeout=args.timeout,
    )
    sent, elapsed = result["sent"], result["seconds"]
    if sent != args.subscribers:
        raise SystemExit(f"only {sent} of {args.subscribers} deliveries were sent")
    kind = "personalised" if args.personal else "same text for all"
    print(
        f"in-app fan-out ({kind}): {args.subscribers} deliveries in {elapsed:.2f} s "
        f"= {args.subscribers / elapsed:,.0f} deliveries/s end to end, trigger to last sent "
        f"(worker: concurrency {args.concurrency})"
    )
    print(result["cpu"])
    print("peak RSS per worker process:")
    print(result["rss"])


if __name__ == "__main__":
    main()
