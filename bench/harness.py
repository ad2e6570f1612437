"""Shared set-up for the benchmarks: a fresh database, a tenant, and real processes.

Every benchmark uses its own database (`clarion_bench`) and Redis database (9) on the same
servers as `make demo` (embedded ones are started when DATABASE_URL / REDIS_URL are unset),
so a running demo is left alone. Nothing here is imported by the application.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from platform_core import embedded  # noqa: E402

BENCH_DB = "clarion_bench"
BENCH_REDIS_DB = 9
LOG_DIR = embedded.data_dir() / "bench-logs"


def bench_env() -> dict[str, str]:
    """Environment of every process of a benchmark: its own database and Redis database."""
    env = dict(os.environ)
    base = os.environ.get("DATABASE_URL") or embedded.database_url()
    env["DATABASE_URL"] = urlunsplit(urlsplit(base)._replace(path="/" + BENCH_DB))
    if not os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = embedded.redis_url(db=BENCH_REDIS_DB)
    env.setdefault("LOG_LEVEL", "WARNING")
    # The sinks and fake providers a benchmark sends to listen on 127.0.0.1.
    env.setdefault("CLARION_ALLOW_PRIVATE_DESTINATIONS", "true")
    env["DJANGO_SETTINGS_MODULE"] = "platform_core.settings"
    return env


def machine() -> str:
    import psutil

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def prepare(*, env: dict[str, str]) -> None:
    """Start the servers, recreate the bench database, migrate it, bring Django up here."""
    embedded.start()
    import psycopg

    admin_url = urlunsplit(urlsplit(env["DATABASE_URL"])._replace(path="/postgres"))
    with psycopg.connect(embedded._libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--shared", "--noinput", "-v", "0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
    )
    import django

    django.setup()
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).flushdb()


def create_tenant(slug: str = "bench"):
    from tenants.services import tenant_create

    tenant, key = tenant_create(slug=slug, name=slug.title(), domain=f"{slug}.localhost")
    return tenant, key


class Processes:
    """Child processes with logs under .data/bench-logs, stopped together."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.children: dict[str, subprocess.Popen] = {}
        LOG_DIR.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], **env: str) -> subprocess.Popen:
        log = open(LOG_DIR / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children[name] = proc
        return proc

    def worker(self, queues: str, concurrency: int, name: str | None = None, **env: str):
        name = name or f"worker-{queues.replace(',', '-')}"
        return self.start(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "platform_core",
                "worker",
                "-Q",
                queues,
                "-n",
                f"{name}@%h",
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "WARNING",
            ],
            **env,
        )

    def stop(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.children.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def wait_for_workers(names: list[str], timeout: float = 60) -> None:
    from platform_core.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=0.5) or []
        seen = {list(reply)[0].split("@")[0] for reply in replies}
        if set(names) <= seen:
            return
    raise RuntimeError(f"workers {names} did not start; see {LOG_DIR}")


class RssSampler:
    """Samples the resident memory of each process tree (a worker and its children)."""

    def __init__(self, procs: dict[str, subprocess.Popen], interval: float = 0.2):
        self.procs = procs
        self.interval = interval
        self.peak: dict[str, int] = {}
        self.first: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for name, proc in self.procs.items():
                try:
                    root = psutil.Process(proc.pid)
                    for member in [root, *root.children(recursive=True)]:
                        key = f"{name}[{'main' if member.pid == root.pid else member.pid}]"
                        rss = member.memory_info().rss
                        self.peak[key] = max(self.peak.get(key, 0), rss)
                        self.first.setdefault(key, rss)
                except psutil.Error:
                    continue
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def report(self) -> str:
        return "\n".join(
            f"    {key:<32} {rss / 2**20:7.1f} MB (first sample {self.first[key] / 2**20:.1f} MB)"
            for key, rss in sorted(self.peak.items())
        )


@contextmanager
def in_schema(schema: str):
    from django.db import connection
    from django_tenants.utils import schema_context

    with schema_context(schema):
        yield
    connection.set_schema_to_public()


def bulk_subscribers(*, count: int, topic_key: str, email_domain: str | None = None) -> int:
    """`count` subscribers in one topic, written by PostgreSQL itself (generate_series)."""
    from django.db import connection

    from notifications.models import Topic

    topic = Topic.objects.create(key=topic_key, name=topic_key)
    email = f"'bench-' || n || '@{email_domain}'" if email_domain else "NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO notifications_subscriber
                (subscriber_id, email, phone, first_name, last_name, locale, timezone, data,
                 credentials, preferences, created_at, updated_at)
            SELECT 'bench-' || n, {email}, NULL, 'Name' || n, '', 'en', '', '{{}}', '{{}}',
                   '{{}}', now(), now()
            FROM generate_series(1, %s) AS n
            """,
            [count],
        )
        cursor.execute(
            """
            INSERT INTO notifications_topicsubscription (topic_id, subscriber_id, created_at)
            SELECT %s, id, now() FROM notifications_subscriber WHERE subscriber_id LIKE 'bench-%%'
            """,
            [topic.pk],
        )
        cursor.execute("ANALYZE")
    return topic.pk


def cpu_seconds() -> dict[str, float]:
    """CPU time used so far by PostgreSQL server processes and by Celery processes."""
    import psutil

    totals = {"postgres": 0.0, "celery": 0.0, "gunicorn": 0.0}
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        try:
            name = proc.info["name"] or ""
            cmdline = " ".join(proc.info["cmdline"] or [])
            times = proc.info["cpu_times"]
        except psutil.Error:
            continue
        if times is None:
            continue
        used = times.user + times.system
        if name.startswith("postgres"):
            totals["postgres"] += used
        elif "celery" in cmdline:
            totals["celery"] += used
        elif "gunicorn" in cmdline:
            totals["gunicorn"] += used
    return totals


def cpu_report(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    used = {name: after[name] - before[name] for name in before}
    parts = [
        f"{name} {seconds:.1f} s ({seconds / wall:.2f} cores)"
        for name, seconds in used.items()
        if seconds > 0.05
    ]
    return "CPU used: " + ", ".join(parts)


def single_step_route(*, event: str, channel: str, template_key: str) -> None:
    """A workflow with one send step, routed from `event` at normal priority."""
    from notifications.models import Route, Workflow, WorkflowStep

    workflow = Workflow.objects.create(key=event.replace(".", "-"), name=event)
    WorkflowStep.objects.create(
        workflow=workflow, position=0, type="send", channel=channel, template_key=template_key
    )
    Route.objects.create(event=event, workflow=workflow, priority="normal")


def trigger_setup(*, schema: str) -> None:
    """What the trigger benchmarks send to: 1,000 subscribers and an in-app `bench.trigger`."""
    from notifications.models import Template

    with in_schema(schema):
        bulk_subscribers(count=1000, topic_key="bench")
        Template.objects.create(key="t", channel="in_app", body="Order {{ payload.order_id }}")
        single_step_route(event="bench.trigger", channel="in_app", template_key="t")


def measure_fanout(*, event: str, topic_key: str, payload: dict, timeout: float) -> dict:
    """Trigger one event to a topic and wait until it is fanned out and no delivery is queued
    or sending.

    Polls a cheap question (is anything still in flight?) so that the database works for the
    pipeline, not for the stopwatch; the time is read from the rows afterwards: trigger to
    the last `sent_at`.
    """
    from django.db.models import Max
    from django.utils import timezone

    from notifications.models import Delivery, DeliveryStatus, Notification, NotificationStatus
    from notifications.services.trigger import event_trigger

    data = {"event": event, "to": [{"topic": topic_key}], "payload": payload}
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    triggered_at = timezone.now()
    notification_id = event_trigger(data=data, raw=data).body["notification_id"]
    deliveries = Delivery.objects.filter(notification_id=notification_id)
    # Done when the fan-out is (its continuations included) and nothing is left to send.
    fanned_out = Notification.objects.filter(
        pk=notification_id, status__in=[NotificationStatus.PROCESSED, NotificationStatus.FAILED]
    )
    while (
        not fanned_out.exists()
        or deliveries.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]).exists()
    ):
        if time.perf_counter() - started > timeout:
            raise SystemExit("timed out")
        time.sleep(0.5)
    wall = time.perf_counter() - started
    cpu_after = cpu_seconds()
    last = deliveries.aggregate(last=Max("sent_at"))["last"]
    return {
        "sent": deliveries.filter(status=DeliveryStatus.SENT).count(),
        "seconds": (last - triggered_at).total_seconds(),
        "cpu": cpu_report(cpu_before, cpu_after, wall),
    }


def fanout_with_worker(
    *,
    env: dict[str, str],
    schema: str,
    concurrency: int,
    event: str,
    payload: dict,
    timeout: float,
) -> dict:
    """Start one `normal` worker, measure one fan-out to topic `everyone`, stop the worker.

    Returns `measure_fanout`'s figures plus `rss`, the peak memory of each worker process.
    """
    processes = Processes(env)
    try:
        worker = processes.worker("normal", concurrency)
        wait_for_workers(["worker-normal"])
        with in_schema(schema), RssSampler({"normal": worker}) as rss:
            result = measure_fanout(
                event=event, topic_key="everyone", payload=payload, timeout=timeout
            )
        return {**result, "rss": rss.report()}
    finally:
        processes.stop()
