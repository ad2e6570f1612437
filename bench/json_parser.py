"""Benchmark: the API's JSON parser against DRF's on the bodies it must refuse or let through.

Prints, per body, the time to parse (or refuse) it with Clarion's parser and with DRF's
`JSONParser`: a typical 1 KB trigger body (the hot path), 512 KB bodies of strings, objects
and brackets, and a body nested 10,000 levels deep. No database or server is needed.

Usage: python bench/json_parser.py [--number 2000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")

import django  # noqa: E402

django.setup()

from rest_framework import parsers as drf_parsers  # noqa: E402

from platform_core.api.parsers import JSONParser  # noqa: E402

LIMIT = 512 * 1024


def trigger_body() -> bytes:
    body = {
        "event": "order.shipped",
        "to": [
            "user-1",
            {"subscriber_id": "user-2", "email": "b@example.com", "first_name": "Béa"},
            {"topic": "tenant-42"},
        ],
        "payload": {
            "order_id": "A-1",
            "total": 129.95,
            "currency": "EUR",
            "items": [
                {"sku": f"SKU-{i}", "name": f"Item {i} — blue, size M", "qty": i, "price": 9.99}
                for i in range(8)
            ],
            "shipping": {"carrier": "DHL", "tracking": "JD014600006281234567", "eta": "2026-12-03"},
        },
        "actor": "user-9",
        "priority": "high",
        "transaction_id": "order-A-1-shipped",
    }
    return json.dumps(body, ensure_ascii=False).encode()


def fill(unit: str, opening: str = "[", closing: str = "]") -> bytes:
    count = (LIMIT - 2) // (len(unit) + 1)
    return (opening + ",".join([unit] * count) + closing).encode()


BODIES = {
    "trigger 1 KB": trigger_body(),
    "512 KB of strings": fill('"' + "x" * 60 + '"'),
    "512 KB of objects": fill('{"k": "v", "n": [1, 2.5], "t": true}'),
    "512 KB of [] pairs": fill("[]"),
    "10,000 levels deep": b"[" * 10_000 + b"]" * 10_000,
}


def timed(parser, raw: bytes, number: int) -> tuple[float, str]:
    outcome = "ok"

    def parse():
        nonlocal outcome
        try:
            parser.parse(io.BytesIO(raw), "application/json", {"encoding": "utf-8"})
        except RecursionError:
            outcome = "RecursionError"
        except Exception as exc:  # noqa: BLE001 - the outcome is what the benchmark reports
            outcome = getattr(exc, "code", type(exc).__name__)

    seconds = min(timeit.repeat(parse, number=number, repeat=3)) / number
    return seconds, outcome


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--number", type=int, default=2000, help="runs of the 1 KB body")
    args = options.parse_args()
    ours, drf = JSONParser(), drf_parsers.JSONParser()
    print(f"{'body':<22}{'bytes':>9}  {'clarion':>18}  {'drf':>22}")
    for name, raw in BODIES.items():
        number = args.number if len(raw) < 10_000 else max(args.number // 200, 5)
        ours_s, ours_out = timed(ours, raw, number)
        drf_s, drf_out = timed(drf, raw, number)
        print(
            f"{name:<22}{len(raw):>9}  {ours_s * 1e6:>9.1f} µs {ours_out:<7}"
            f"  {drf_s * 1e6:>9.1f} µs {drf_out:<11}"
        )


if __name__ == "__main__":
    main()
