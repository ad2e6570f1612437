"""Benchmark: POST /api/v1/events/trigger under gunicorn with 32 concurrent clients.

Measures accepted events/s and latency (p50/p99) of the trigger API itself: every accepted
event is committed to PostgreSQL and its processing enqueued in Redis; workers are not
running, so they do not compete for the CPU during the measurement. Load comes from `wrk`
(apt install wrk) in a second process.

Usage: python bench/trigger_api.py [--connections 32] [--duration 30] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import harness


def wait_for_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not come up; see .data/bench-logs/web.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("this benchmark needs wrk: apt install wrk")

    env = harness.bench_env()
    print(f"machine: {harness.machine()}")
    harness.prepare(env=env)
    tenant, key = harness.create_tenant()
    from notifications.models import Notification

    harness.trigger_setup(schema=tenant.schema_name)

    processes = harness.Processes(env)
    try:
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
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
            ],
            LOG_LEVEL="WARNING",
        )
        wait_for_http(args.port)
        script = str(harness.BASE_DIR / "bench" / "trigger.lua")
        url = f"http://127.0.0.1:{args.port}"

        def run(duration: int, label: str) -> str:
            result = subprocess.run(
                [
                    "wrk",
                    "-t",
                    "2",
                    "-c",
                    str(args.connections),
                    "-d",
                    f"{duration}s",
                    "--timeout",
                    "10s",
                    "-s",
                    script,
                    url,
                ],
                env={**os.environ, "CLARION_KEY": key, "CLARION_RUN": label},
                capture_output=True,
                text=True,
                check=True,
            )
            return next(line for line in result.stdout.splitlines() if line.startswith("RESULT"))

        run(args.warmup, "warmup")
        with harness.in_schema(tenant.schema_name):
            before = Notification.objects.count()
        cpu_before = harness.cpu_seconds()
        line = run(args.duration, "measure")
        cpu_after = harness.cpu_seconds()
        with harness.in_schema(tenant.schema_name):
            stored = Notification.objects.count() - before
        fields = dict(re.findall(r"(\w+)=([^\s]+)", line))
        print(
            f"trigger API: {float(fields['rps']):,.0f} accepted events/s over "
            f"{fields['duration_s']} s with {args.connections} concurrent clients; latency "
            f"p50 {fields['p50_ms']} ms, p90 {fields['p90_ms']} ms, p99 {fields['p99_ms']} ms, "
            f"max {fields['max_ms']} ms"
        )
        print(
            f"responses: {fields['statuses']}; socket errors: {fields['errors']}; "
            f"notifications stored during the run: {stored}"
        )
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads; "
            + harness.cpu_report(cpu_before, cpu_after, float(fields["duration_s"]))
        )
    finally:
        processes.stop()


if __name__ == "__main__":
    main()
