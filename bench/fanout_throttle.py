"""Benchmark: what a throttle costs an in-app fan-out, in the same run.

One trigger to a topic of N subscribers, alternately with no throttle and with a throttle over
every in-app delivery (high enough that nothing is skipped, so both send the same messages and
the difference is the check itself: one Redis round trip per batch). Prints the machine, each
round's seconds and deliveries/s, and the ratio throttled / none.

Usage: python bench/fanout_throttle.py [--subscribers 20000] [--rounds 2] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import statistics

import harness


def check_cost(*, batch: int, repeat: int) -> float:
    """Seconds one throttle check of `batch` deliveries takes, median of `repeat` batches."""
    import time

    from notifications.models import Subscriber, Throttle
    from notifications.pipeline.governance import ThrottleCheck, ThrottleGate

    Throttle.objects.all().delete()
    Throttle.objects.create(key="check-cost", limit=10_000, window_seconds=3600, channel="in_app")
    people = list(Subscriber.objects.order_by("id").values_list("id", flat=True)[:batch])
    timings = []
    for n in range(repeat):
        gate = ThrottleGate(channel="in_app")
        assert gate.throttles  # read once per batch, as a send does; not timed here
        checks = [
            ThrottleCheck(delivery_id=10**9 + n * batch + i, subscriber_pk=pk,
                          workflow_id=None, priority="normal")
            for i, pk in enumerate(people)
        ]  # fmt: skip
        started = time.perf_counter()
        over = gate.over(checks)
        timings.append(time.perf_counter() - started)
        assert not over
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    env = harness.bench_env()
    print(f"machine: {harness.machine()}")
    harness.prepare(env=env)
    tenant, _ = harness.create_tenant()
    from notifications.models import Delivery, Template, Throttle

    with harness.in_schema(tenant.schema_name):
        harness.bulk_subscribers(count=args.subscribers, topic_key="everyone")
        Template.objects.create(
            key="news",
            channel="in_app",
            subject="Hi {{ subscriber.first_name }}",
            body="Order {{ payload.order_id }} for {{ subscriber.first_name }} has shipped.",
        )
        harness.single_step_route(event="bench.throttle", channel="in_app", template_key="news")

    processes = harness.Processes(env)
    seconds: dict[str, list[float]] = {"none": [], "throttled": []}
    try:
        processes.worker("normal", args.concurrency)
        harness.wait_for_workers(["worker-normal"])
        with harness.in_schema(tenant.schema_name):
            for n in range(args.rounds):
                for kind in ("none", "throttled"):
                    Throttle.objects.all().delete()
                    if kind == "throttled":
                        # Every delivery is checked and counted; none is over the limit.
                        Throttle.objects.create(
                            key="in-app-hourly", limit=10_000, window_seconds=3600,
                            channel="in_app",
                        )  # fmt: skip
                    result = harness.measure_fanout(
                        event="bench.throttle",
                        topic_key="everyone",
                        payload={"order_id": f"B-{n}-{kind}"},
                        timeout=args.timeout,
                    )
                    if result["sent"] != args.subscribers:
                        raise SystemExit(f"{kind}: {result['sent']} of {args.subscribers} sent")
                    seconds[kind].append(result["seconds"])
                    print(
                        f"round {n + 1}, {kind:>9}: {args.subscribers} in-app deliveries in "
                        f"{result['seconds']:.2f} s = "
                        f"{args.subscribers / result['seconds']:,.0f}/s; {result['cpu']}"
                    )
            skipped = Delivery.objects.filter(status="skipped").count()
    finally:
        processes.stop()
    none, throttled = statistics.mean(seconds["none"]), statistics.mean(seconds["throttled"])
    with harness.in_schema(tenant.schema_name):
        per_batch = check_cost(batch=1000, repeat=20)
    print(
        f"the check alone: {per_batch * 1000:.1f} ms per batch of 1000 in-app deliveries "
        f"(one Redis round trip, {per_batch * 1e6 / 1000:.1f} µs per delivery)"
    )
    print(
        f"mean: none {none:.2f} s, throttled {throttled:.2f} s; throttled / none = "
        f"{throttled / none:.3f} (worker concurrency {args.concurrency}, {skipped} skipped)"
    )


if __name__ == "__main__":
    main()
