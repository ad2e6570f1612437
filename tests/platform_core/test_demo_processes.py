"""`make demo` under its process manager: what dies is restarted, a stop stops everything, and
a taken port is explained. Real processes throughout (supervisord, Celery, gunicorn)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from django.db import connection

from notifications.models import DeliveryEvent
from platform_core.processes import ProcessManager, beat_program, worker_programs
from tests.conftest import BASE_DIR, session_database_url, worker_env
from tests.notifications.pipeline_helpers import (
    make_topic,
    make_workflow,
    smtp_integration,
    statuses,
    wait_until,
)

pytestmark = pytest.mark.worker


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _logged(path: Path, text: bytes) -> bool:
    return path.exists() and text in path.read_bytes()


def _kill_leftovers(pids: set[int]) -> None:
    for pid in pids:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


def test_sigkilled_worker_main_processes_are_restarted_and_every_email_arrives_once(
    live, live_api, smtp_server, unique, tmp_path
):
    # given: the demo's workers and beat under its process manager, against this suite's
    # database and Redis; 90 low-priority emails, and an SMTP server that stalls on the 31st
    smtp_integration(smtp_server)
    event = make_workflow(unique, [{"channel": "email"}], priority="low")
    topic, ids = make_topic(unique, 90)
    stalled, released = smtp_server.stall_after(30)
    programs = [*worker_programs(), beat_program(schedule=tmp_path / "celerybeat-schedule")]
    workers = [program.name for program in programs if program.name.startswith("worker-")]
    manager = ProcessManager(
        programs=programs, env=worker_env(), run_dir=tmp_path / "run", log_dir=tmp_path / "logs"
    )
    try:
        manager.start()
        before = manager.wait_running(timeout=60)
        response = live_api.post(
            "/api/v1/events/trigger",
            {"event": event, "to": [{"topic": topic}], "payload": {"order_id": "K-1"}},
        )
        notification_id = response.json()["notification_id"]
        # Celery boots slowly on a loaded machine: RUNNING to supervisord is not ready yet.
        wait_until(
            lambda: all(_logged(tmp_path / "logs" / f"{n}.log", b" ready.") for n in workers),
            timeout=180,
            interval=0.5,
            what="every worker ready",
        )
        assert stalled.wait(120), f"the fan-out never reached the 31st email; see {tmp_path}"

        # when: every worker's main process is SIGKILLed in the middle of the fan-out
        for name in workers:
            os.kill(before[name]["pid"], signal.SIGKILL)
        released.set()

        # then: the process manager starts each of them again ...
        def restarted():
            states = manager.states()
            return all(
                states[n]["statename"] == "RUNNING" and states[n]["pid"] != before[n]["pid"]
                for n in workers
            )

        wait_until(restarted, timeout=120, interval=0.3, what="every worker restarted")
        # ... and the fan-out completes
        wait_until(
            lambda: statuses(notification_id) == {"sent": 90},
            timeout=180,
            interval=0.3,
            what="all 90 deliveries sent after the workers were killed",
        )
    finally:
        manager.stop()

    # Each recipient's email arrived once. A pool process orphaned by its killed main process
    # can die after the server accepted a message and before the send was recorded: the lapsed
    # lease then sends it again with the same Message-ID (the idempotency key a receiver drops
    # repeats by), and only such a repeat may appear twice at the server.
    by_recipient: dict[str, set[str]] = {}
    for message in smtp_server.messages:
        by_recipient.setdefault(message["To"], set()).add(message["Message-ID"])
    assert sorted(by_recipient) == sorted(f"{sid}@example.com" for sid in ids)
    assert all(len(message_ids) == 1 for message_ids in by_recipient.values()), by_recipient
    repeats = len(smtp_server.messages) - len(by_recipient)
    if repeats:
        retried = DeliveryEvent.objects.filter(
            delivery__notification_id=notification_id, detail__startswith="lease expired"
        ).count()
        assert repeats <= retried, (repeats, retried)
    pids = set().union(*manager.seen_pids.values())
    assert all(len(manager.seen_pids[name]) >= 2 for name in workers)
    assert not [pid for pid in pids | {manager.proc.pid} if _running(pid)]


def _demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)  # the demo starts an embedded Redis in its own data folder
    env.update(
        {
            "CLARION_DATA_DIR": str(tmp_path / "data"),
            "PORT": str(_free_port()),
            "DEMO_SMTP_PORT": str(_free_port()),
            "GRPC_PORT": str(_free_port()),
            "STREAM_PORT": str(_free_port()),
            "LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


def _start_demo(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "platform_core.dev", "demo"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


class _Output:
    """Collects a process's output on a thread, so that waiting for a line has a time limit."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(text in line for line in self.lines), timeout)

    @property
    def text(self) -> str:
        self._thread.join(5)
        return "".join(self.lines)


@pytest.fixture
def demo_tenant_removed(test_tenants, django_db_blocker):
    """A demo run against this suite's database leaves its demo tenant and admin behind."""
    from django.contrib.auth import get_user_model

    from tenants.models import Tenant

    with django_db_blocker.unblock():
        had_admin = get_user_model().objects.filter(username="admin").exists()
    yield
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        for tenant in Tenant.objects.filter(slug="demo"):
            tenant.delete(force_drop=True)
        if not had_admin:
            get_user_model().objects.filter(username="admin").delete()


def test_term_to_a_running_demos_process_group_stops_every_process_it_started(
    test_tenants, demo_tenant_removed, tmp_path
):
    # given: a running demo (this suite's database, an embedded Redis of its own)
    env = _demo_env(tmp_path, DATABASE_URL=session_database_url())
    demo = _start_demo(env)
    pids: set[int] = set()
    try:
        output = _Output(demo)
        assert output.wait_for("API key (demo)", timeout=240), "".join(output.lines)
        # the inbox widget's page, and the stream it points at
        page = urllib.request.Request(
            f"http://127.0.0.1:{env['PORT']}/demo/inbox/",
            headers={"Host": f"demo.localhost:{env['PORT']}"},
        )
        with urllib.request.urlopen(page, timeout=10) as response:
            html = response.read().decode()
        assert "<clarion-inbox" in html and 'subscriber-id="ada"' in html
        assert f"http://demo.localhost:{env['STREAM_PORT']}" in html
        stream_health = f"http://127.0.0.1:{env['STREAM_PORT']}/healthz"
        wait_until(lambda: _answers(stream_health), timeout=30, what="the inbox stream")
        redis_pid = int((tmp_path / "data" / "redis" / "redis.pid").read_text())
        descendants = psutil.Process(demo.pid).children(recursive=True)
        pids = {demo.pid, redis_pid, *(child.pid for child in descendants)}
        commands = " ".join(" ".join(child.cmdline()) for child in descendants)
        for expected in (
            "supervisord",
            "aiosmtpd",
            "gunicorn",
            "grpcserver",
            "notifications.stream",
            "worker -Q low",
            "beat",
        ):
            assert expected in commands

        # when: the group gets SIGTERM, and the demo a second one (as make forwards it)
        os.killpg(demo.pid, signal.SIGTERM)
        time.sleep(0.5)
        demo.send_signal(signal.SIGTERM)
        demo.wait(60)

        # then: the shutdown ran to its end and nothing of the demo is left
        assert demo.returncode == 0
        assert "clarion: stopped" in output.text
        assert not [pid for pid in pids if _running(pid)]
    finally:
        if demo.poll() is None:
            # supervisord's programs run in process groups of their own: find them first
            pids |= {child.pid for child in psutil.Process(demo.pid).children(recursive=True)}
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        _kill_leftovers(pids)


@pytest.mark.parametrize("variable", ["DEMO_SMTP_PORT", "PORT", "GRPC_PORT", "STREAM_PORT"])
def test_a_taken_port_is_named_with_the_variable_that_changes_it(variable, tmp_path):
    # given: something already listening on the port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _demo_env(tmp_path, **{variable: str(port)})
        env.pop("DATABASE_URL", None)

        # when
        demo = _start_demo(env)
        try:
            out, _ = demo.communicate(timeout=30)
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()

    # then: a clear message, a failure exit, and nothing started (not even the servers)
    assert demo.returncode != 0
    assert f"port {port}" in out and f"{variable}=" in out
    assert "Traceback" not in out
    assert not (tmp_path / "data" / "postgres").exists()
    assert not (tmp_path / "data" / "redis").exists()
