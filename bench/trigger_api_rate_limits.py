"""Benchmark: the cost of API rate limits on POST /api/v1/events/trigger, on vs off.

Two gunicorns run side by side on the same database: one with rate limits on (every request
counted in Redis, with limits high enough that none is refused), one with API_RATE_LIMITS
empty (off). Load from `wrk` (apt install wrk) goes to one at a time, alternating on, off,
on, off ... so both see the same machine state; the figures are summed per side and their
ratio printed. Also times the limiter's Redis call on its own (one Lua script, one round
trip) from this process.

Usage: python bench/trigger_api_rate_limits.py [--rounds 3] [--duration 15] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import harness
from trigger_api import wait_for_http

ON = "events=100000000/60,config=100000000/60,read=100000000/60,inbox=100000000/60"


def gunicorn(args, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "platform_core.wsgi",
        "-c",
        str(harness.BASE_DIR / "docker" / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
    ]


def wrk(args, port: int, key: str, duration: int, label: str) -> dict[str, str]:
    result = subprocess.run(
        ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{duration}s", "--timeout", "10s",
         "-s", str(harness.BASE_DIR / "bench" / "trigger.lua"), f"http://127.0.0.1:{port}"],
        env={**os.environ, "CLARION_KEY": key, "CLARION_RUN": label},
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT"))
    return dict(re.findall(r"(\w+)=([^\s]+)", line))


def cpu_of(pids: list[int]) -> float:
    """CPU seconds used so far by these processes and their children."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def redis_pids() -> list[int]:
    """The benchmark's Redis server (the embedded one of this checkout)."""
    import psutil

    from platform_core import embedded

    folder = str(embedded.data_dir())
    return [
        proc.pid
        for proc in psutil.process_iter(["name", "cmdline"])
        if "redis-server" in (proc.info["name"] or "")
        and folder in " ".join(proc.info["cmdline"] or [])
    ]


def limiter_call_cost(calls: int) -> str:
    """Time `rate_limit_hit` alone: the Lua script's round trip to Redis."""
    from tenants.ratelimits import Limit, rate_limit_hit

    limit = Limit(limit=10**9, period=60)
    for _ in range(200):
        rate_limit_hit(key="clarion:rl:bench:warmup", category="events", limit=limit)
    samples = []
    for n in range(calls):
        started = time.perf_counter()
        usage = rate_limit_hit(key=f"clarion:rl:bench:key:{n % 50}", category="events", limit=limit)
        samples.append((time.perf_counter() - started) * 1e6)
        assert usage is not None and usage.allowed
    samples.sort()
    mean = statistics.mean(samples)
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    return (
        f"limiter call alone ({calls} calls, this process to Redis): mean {mean:.0f} µs, "
        f"p50 {p50:.0f} µs, p99 {p99:.0f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=15, help="seconds per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--calls", type=int, default=20000, help="limiter calls timed alone")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("this benchmark needs wrk: apt install wrk")

    env = harness.bench_env()
    print(f"machine: {harness.machine()}")
    harness.prepare(env=env)
    tenant, key = harness.create_tenant()

    harness.trigger_setup(schema=tenant.schema_name)

    print(limiter_call_cost(args.calls))
    ports = {"on": args.port, "off": args.port + 1}
    processes = harness.Processes(env)
    try:
        web = {
            "on": processes.start(
                "web-limits-on", gunicorn(args, ports["on"]), API_RATE_LIMITS=ON
            ).pid,
            "off": processes.start(
                "web-limits-off", gunicorn(args, ports["off"]), API_RATE_LIMITS=""
            ).pid,
        }
        redis_server = redis_pids()
        for port in ports.values():
            wait_for_http(port)
        for side, port in ports.items():
            wrk(args, port, key, args.warmup, f"warmup-{side}")
        totals = {
            side: {"requests": 0, "seconds": 0.0, "p50": [], "p99": [], "web": 0.0, "redis": 0.0}
            for side in ports
        }
        statuses = {side: [] for side in ports}
        for round_number in range(args.rounds):
            for side, port in ports.items():
                web_before, redis_before = cpu_of([web[side]]), cpu_of(redis_server)
                fields = wrk(args, port, key, args.duration, f"r{round_number}-{side}")
                totals[side]["web"] += cpu_of([web[side]]) - web_before
                totals[side]["redis"] += cpu_of(redis_server) - redis_before
                totals[side]["requests"] += int(fields["requests"])
                totals[side]["seconds"] += float(fields["duration_s"])
                totals[side]["p50"].append(float(fields["p50_ms"]))
                totals[side]["p99"].append(float(fields["p99_ms"]))
                statuses[side].append(fields["statuses"])
                print(
                    f"round {round_number + 1} limits {side:>3}: {float(fields['rps']):7.1f} "
                    f"events/s, p50 {fields['p50_ms']} ms, p99 {fields['p99_ms']} ms, "
                    f"responses {fields['statuses']}, socket errors {fields['errors']}"
                )
        rps = {side: t["requests"] / t["seconds"] for side, t in totals.items()}
        p50 = {side: statistics.median(t["p50"]) for side, t in totals.items()}
        print(
            f"trigger API, {args.connections} clients, gunicorn {args.workers} workers x "
            f"{args.threads} threads, {args.rounds} rounds of {args.duration} s per side:"
        )
        print(
            f"  limits on  {rps['on']:7.1f} events/s (median p50 {p50['on']:.1f} ms)\n"
            f"  limits off {rps['off']:7.1f} events/s (median p50 {p50['off']:.1f} ms)\n"
            f"  ratio on/off {rps['on'] / rps['off']:.3f}; per request "
            f"{(1 / rps['on'] - 1 / rps['off']) * 1000:+.3f} ms of machine time with limits on"
        )
        cpu = {
            side: {
                part: totals[side][part] / totals[side]["requests"] * 1000
                for part in ("web", "redis")
            }
            for side in ports
        }
        print(
            "  CPU per request: gunicorn "
            f"{cpu['on']['web']:.2f} ms on vs {cpu['off']['web']:.2f} ms off "
            f"({cpu['on']['web'] - cpu['off']['web']:+.2f} ms); Redis "
            f"{cpu['on']['redis']:.3f} ms on vs {cpu['off']['redis']:.3f} ms off "
            f"({cpu['on']['redis'] - cpu['off']['redis']:+.3f} ms)"
        )
        if any("429" in s for side in statuses.values() for s in side):
            print("WARNING: some requests were rate limited; the 'on' limits are too low")
    finally:
        processes.stop()


if __name__ == "__main__":
    main()
