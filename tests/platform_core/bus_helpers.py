"""Running `manage.py consume_events` as a real process, and the means to interrupt it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
import pytest

from platform_core import embedded
from tests.conftest import BASE_DIR, session_database_url, worker_env

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def start_consumer(source: str, name: str, *args: str, **env: str) -> subprocess.Popen:
    """`manage.py consume_events --source … --consumer name` against the test database."""
    (BASE_DIR / ".data").mkdir(exist_ok=True)
    log = open(BASE_DIR / ".data" / f"test-consumer-{name}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "consume_events",
            "--source",
            source,
            "--consumer",
            name,
            *args,
        ],
        cwd=BASE_DIR,
        env=worker_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def consumer_log(name: str) -> str:
    return (BASE_DIR / ".data" / f"test-consumer-{name}.log").read_text(errors="replace")


@contextmanager
def subscriber_row_locked(schema: str, subscriber_id: str):
    """Hold a row lock on a committed subscriber from another connection: a message naming
    that subscriber inline stops inside its transaction, before the commit, until released."""
    conn = psycopg.connect(embedded._libpq(session_database_url()))
    try:
        conn.execute(f'SET search_path TO "{schema}"')
        found = conn.execute(
            "SELECT 1 FROM notifications_subscriber WHERE subscriber_id = %s FOR UPDATE",
            [subscriber_id],
        ).fetchone()
        assert found, f"no subscriber {subscriber_id} to lock"
        yield conn
    finally:
        conn.rollback()
        conn.close()


def lock_waiters(conn: psycopg.Connection) -> int:
    """How many other sessions wait for a lock this connection holds."""
    # Activity is read from a snapshot taken once per transaction unless cleared.
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
        [conn.info.backend_pid],
    ).fetchone()[0]


def amqp_url() -> str:
    """The RabbitMQ the tests may use (CLARION_TEST_AMQP_URL); skips the test when it is
    unreachable, as on a bare machine."""
    url = os.environ.get("CLARION_TEST_AMQP_URL", DEFAULT_AMQP_URL)
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 1).close()
    except OSError as exc:
        pytest.skip(f"no RabbitMQ at {parts.hostname}:{parts.port or 5672} ({exc})")
    return url


def source_url(server_url: str, name: str) -> str:
    """A --source URL: the server URL with the stream or queue as last path segment."""
    parts = urlsplit(server_url)
    path = parts.path.rstrip("/")
    if parts.scheme.startswith("amqp"):
        path = parts.path[:-1] if parts.path.endswith("//") else path
        if path == "/":
            path = ""
    return parts._replace(path=f"{path}/{name}").geturl()


def running(proc: subprocess.Popen, name: str) -> bool:
    """True while the consumer runs; an AssertionError with its log once it has exited."""
    if proc.poll() is not None:
        raise AssertionError(
            f"consumer {name} exited {proc.returncode}:\n{consumer_log(name)[-3000:]}"
        )
    return True
