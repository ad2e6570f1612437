"""Benchmark: the cost of one render of a simple personalised in-app template.

Renders the same template for 10,000 different subscribers (the compiled template is cached,
as in a send batch) and prints the mean time per render, best of five rounds, in
CPU time (steadier than wall time on a busy machine).

Usage: python bench/render_overhead.py [--renders 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")

import django  # noqa: E402

django.setup()

from notifications.rendering import render_message  # noqa: E402

TEMPLATE = SimpleNamespace(
    key="order-shipped",
    channel="in_app",
    subject="Order {{ payload.order_id }} shipped",
    body="Hi {{ subscriber.first_name }}, your order {{ payload.order_id }} is on its way "
    "and should arrive by {{ payload.eta }}.",
    cta_url="https://shop.example/orders/{{ payload.order_id }}",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renders", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    contexts = [
        {
            "payload": {"order_id": f"A-{n}", "eta": "Friday"},
            "subscriber": {"first_name": f"Ada{n}"},
            "actor": None,
        }
        for n in range(args.renders)
    ]

    def run() -> None:
        for context in contexts:
            render_message(template=TEMPLATE, variant=None, context=context)

    run()  # compile once, as the first delivery of a batch does
    best = min(timeit.repeat(run, number=1, repeat=args.rounds, timer=time.process_time))
    print(f"{args.renders} renders: {best:.3f} s, {best / args.renders * 1e6:.1f} µs per render")


if __name__ == "__main__":
    main()
