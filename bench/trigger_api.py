"""Benchmark: POST /api/v1/events/trigger under gunicorn with 32 concurrent clients, beside a
bare Django + DRF view that validates the same body and inserts one row (`bench/peer/`).

Both run under the web configuration `make demo` and the Docker image use
(`docker/gunicorn.conf.py`: gthread, GUNICORN_WORKERS x GUNICORN_THREADS) on the same
PostgreSQL, one after the other, for `--rounds` alternating rounds. Celery workers are not
running, so only the API is measured: every accepted Clarion event is committed and its
processing published to Redis. Load comes from `wrk` (apt install wrk) in a second process.
Prints accepted events/s and p50/p99 of each, and Clarion's ratio to the peer.

With `--profile`, py-spy samples Clarion's gunicorn workers (GIL holders only) through the
first measured round and the functions holding most samples are printed (needs py-spy).

Usage: python bench/trigger_api.py [--connections 32] [--duration 20] [--rounds 2] [--profile]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

import harness


def wait_for_http(port: int, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not come up; see {harness.LOG_DIR}")


def gunicorn(app: str, port: int, args, *, chdir: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "gunicorn", app, "-c"]
    argv += [str(harness.BASE_DIR / "docker" / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    if chdir:
        # The peer is plain Django: gunicorn's own gthread worker, not Clarion's JSON one.
        argv += ["--chdir", chdir, "--worker-class", "gthread"]
    return argv


def py_spy() -> str | None:
    """py-spy on PATH or beside this Python (a venv's bin that is not on PATH)."""
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return shutil.which("py-spy") or (beside if os.access(beside, os.X_OK) else None)


def profile_start(master_pid: int, duration: int) -> list[tuple[subprocess.Popen, str]]:
    import psutil

    spies = []
    for n, worker in enumerate(psutil.Process(master_pid).children()):
        out = str(harness.LOG_DIR / f"profile-{n}.txt")
        argv = [py_spy(), "record", "--pid", str(worker.pid), "--gil", "--format", "raw"]
        argv += ["--rate", "200", "--duration", str(duration), "--output", out, "--nonblocking"]
        spies.append((subprocess.Popen(argv, stdout=subprocess.DEVNULL), out))
    return spies


def profile_report(spies: list[tuple[subprocess.Popen, str]], top: int = 40) -> None:
    """Print the share of GIL-holding samples each function appears in (inclusive) and the
    share it is the innermost frame of (self), over every worker."""
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    for spy, out in spies:
        spy.wait(timeout=60)
        with open(out) as lines:
            for line in lines:
                stack, _, count = line.rstrip().rpartition(" ")
                if not stack:
                    continue
                frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
                total += int(count)
                for frame in set(frames):
                    inclusive[frame] += int(count)
                own[frames[-1]] += int(count)
    print(f"  profile: {total:,} samples of the GIL held in Clarion's workers")
    for frame, count in inclusive.most_common(top):
        share, own_share = 100 * count / total, 100 * own[frame] / total
        print(f"    {share:5.1f}% incl {own_share:5.1f}% self  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, help="override GUNICORN_WORKERS")
    parser.add_argument("--threads", type=int, help="override GUNICORN_THREADS")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--profile", action="store_true", help="py-spy the first Clarion round")
    args = parser.parse_args()
    if args.profile and not py_spy():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    if not shutil.which("wrk"):
        raise SystemExit("this benchmark needs wrk: apt install wrk")

    env = harness.bench_env()
    print(f"machine: {harness.machine()}")
    harness.prepare(env=env)
    tenant, key = harness.create_tenant()
    from django.db import connection

    from notifications.models import Notification

    sys.path.insert(0, str(harness.BASE_DIR / "bench"))
    from peer.models import TABLE_SQL

    harness.trigger_setup(schema=tenant.schema_name)
    with connection.cursor() as cursor:
        cursor.execute(TABLE_SQL)
    connection.close()

    def accepted(kind: str) -> int:
        if kind == "clarion":
            with harness.in_schema(tenant.schema_name):
                return Notification.objects.count()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM public.peer_event")
            return cursor.fetchone()[0]

    def measure(kind: str, round_no: int) -> dict:
        processes = harness.Processes(env)
        try:
            if kind == "clarion":
                argv = gunicorn("platform_core.wsgi", args.port, args)
                # Rate limits off: a run sends far more than a key's default budget.
                limits = "events=off,config=off,read=off,inbox=off"
                processes.start("web", argv, LOG_LEVEL="WARNING", API_RATE_LIMITS=limits)
                wait_for_http(args.port, "/healthz")
            else:
                argv = gunicorn("peer.wsgi", args.port, args, chdir="bench")
                processes.start("peer", argv, DJANGO_SETTINGS_MODULE="peer.settings")
                wait_for_http(args.port, "/api/v1/events/trigger")

            def wrk(duration: int, label: str) -> dict:
                result = subprocess.run(
                    ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{duration}s"]
                    + ["--timeout", "10s", "-s", str(harness.BASE_DIR / "bench" / "trigger.lua")]
                    + [f"http://127.0.0.1:{args.port}"],
                    env={**os.environ, "CLARION_KEY": key, "CLARION_RUN": label},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
                return dict(re.findall(r"(\w+)=([^\s]+)", line))

            wrk(args.warmup, f"{kind}-warmup-{round_no}")
            spies = []
            if args.profile and kind == "clarion" and round_no == 1:
                spies = profile_start(processes.children["web"].pid, args.duration)
            before = accepted(kind)
            cpu_before = harness.cpu_seconds()
            fields = wrk(args.duration, f"{kind}-{round_no}")
            cpu_after = harness.cpu_seconds()
            stored = accepted(kind) - before
        finally:
            processes.stop()
        if spies:
            profile_report(spies)
        seconds = float(fields["duration_s"])
        codes = dict(part.split("=") for part in fields["statuses"].split(",") if part)
        result = {
            "rate": int(codes.get("202", 0)) / seconds,
            "p50": float(fields["p50_ms"]),
            "p99": float(fields["p99_ms"]),
        }
        print(
            f"  {kind:8} round {round_no}: {result['rate']:,.0f} accepted/s, p50 "
            f"{result['p50']:.1f} ms, p99 {result['p99']:.1f} ms; responses "
            f"{fields['statuses']}, socket errors {fields['errors']}, rows stored {stored}; "
            + harness.cpu_report(cpu_before, cpu_after, seconds)
        )
        return result

    shape = (
        f"workers={args.workers or os.environ.get('GUNICORN_WORKERS', 2)} "
        f"threads={args.threads or os.environ.get('GUNICORN_THREADS', 4)}"
    )
    print(f"gunicorn gthread {shape}; wrk {args.connections} connections, {args.duration} s")
    runs: dict[str, list[dict]] = {"clarion": [], "peer": []}
    for round_no in range(1, args.rounds + 1):
        for kind in ("peer", "clarion") if round_no % 2 else ("clarion", "peer"):
            runs[kind].append(measure(kind, round_no))

    def median(kind: str, field: str) -> float:
        return statistics.median(run[field] for run in runs[kind])

    rate_ratio = median("clarion", "rate") / median("peer", "rate")
    p99_ratio = median("clarion", "p99") / median("peer", "p99")
    print(
        f"trigger API: {median('clarion', 'rate'):,.0f} accepted events/s (p99 "
        f"{median('clarion', 'p99'):.0f} ms) against the bare DRF view's "
        f"{median('peer', 'rate'):,.0f}/s (p99 {median('peer', 'p99'):.0f} ms): "
        f"{rate_ratio:.2f}x the throughput, {p99_ratio:.2f}x the p99 (medians of "
        f"{args.rounds} rounds)"
    )


if __name__ == "__main__":
    main()
