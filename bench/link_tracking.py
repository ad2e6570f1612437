"""Benchmark: the cost of tracking the links of one rendered message (per delivery).

Rewrites an email (HTML with three links and its text part, open pixel on) and an in-app
message (one link in the body and the `cta_url`) for 10,000 different deliveries and prints
the mean time per message, best of five rounds, in CPU time.

Usage: python bench/link_tracking.py [--messages 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")

import django  # noqa: E402

django.setup()

from connectors.base import RenderedMessage  # noqa: E402
from notifications.rendering import html_to_text  # noqa: E402
from notifications.rendering.tracking import LinkTracker  # noqa: E402

HTML = (
    "<html><body><p>Hi Ada, your order A-1 is on its way.</p>"
    '<p><a href="https://shop.example/orders/A-1">Track it</a> · '
    '<a href="https://shop.example/help?topic=shipping&amp;order=A-1">Help</a> · '
    '<a href="https://shop.example/account">Your account</a></p></body></html>'
)
EMAIL = RenderedMessage(subject="Shipped", body=HTML, text_body=html_to_text(HTML))
IN_APP = RenderedMessage(
    subject="Shipped",
    body="Your order A-1 is on its way: https://shop.example/orders/A-1",
    text_body="Your order A-1 is on its way: https://shop.example/orders/A-1",
    cta_url="https://shop.example/orders/A-1",
)


def measure(message: RenderedMessage, *, email: bool, count: int, rounds: int) -> float:
    def run() -> None:
        for delivery_id in range(count):
            tracker = LinkTracker(
                base_url="https://acme.clarion.example",
                schema="acme",
                delivery_id=delivery_id,
                opens=email,
            )
            tracker.apply(message, email=email)

    timer = timeit.Timer(run, timer=time.process_time)
    return min(timer.repeat(repeat=rounds, number=1)) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    email = measure(EMAIL, email=True, count=args.messages, rounds=args.rounds)
    in_app = measure(IN_APP, email=False, count=args.messages, rounds=args.rounds)
    print(f"email (3 links, text part, open pixel): {email:.1f} µs per message")
    print(f"in-app (1 link + cta_url): {in_app:.1f} µs per message")


if __name__ == "__main__":
    main()
