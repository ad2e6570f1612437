"""Suite-wide fixtures: two real tenants, API clients bound to their hosts, real workers.

Runs against real PostgreSQL (django-tenants schemas) and Redis; `make test` starts embedded
ones when DATABASE_URL / REDIS_URL are unset.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import get_public_schema_name, schema_context

from platform_core import embedded
from tenants import cache as tenant_cache
from tenants.models import Tenant
from tenants.services import tenant_create

pytest_plugins = ["tests.fakes"]

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass
class TenantCtx:
    tenant: Tenant
    key: str
    host: str

    @property
    def schema(self) -> str:
        return self.tenant.schema_name


class ApiClient(Client):
    """A Django test client sending JSON to one host with one API key."""

    def __init__(self, host: str, key: str | None = None):
        headers = {"Authorization": f"ApiKey {key}"} if key else {}
        super().__init__(HTTP_HOST=host, headers=headers)

    def _json(self, method, path, data=None, **extra):
        return getattr(super(), method)(path, data=data, content_type="application/json", **extra)

    def post(self, path, data=None, **extra):
        return self._json("post", path, data, **extra)

    def put(self, path, data=None, **extra):
        return self._json("put", path, data, **extra)

    def patch(self, path, data=None, **extra):
        return self._json("patch", path, data, **extra)

    def delete(self, path, data=None, **extra):
        return self._json("delete", path, data, **extra)


def admin_login(host: str, username: str, password: str) -> Client | None:
    """Log in through the host's real admin login form; the client, or None if refused."""
    client = Client(HTTP_HOST=host)
    response = client.post(
        "/admin/login/", {"username": username, "password": password, "next": "/admin/"}
    )
    if response.status_code == 302 and response["Location"] == "/admin/":
        return client
    return None


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker):
    """Always create the test database, even when no collected test asks for `db`.

    pytest-django only sets up the databases its `db` markers and fixtures name; tests that
    use committed data (`live`) would otherwise run against the real database.
    """
    from django.test.utils import setup_databases, teardown_databases

    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=verbosity, interactive=False, aliases={"default"}, serialized_aliases=set()
        )
    assert connection.settings_dict["NAME"].startswith("test"), "not a test database"
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=verbosity)


@pytest.fixture(scope="session")
def test_tenants(django_db_setup, django_db_blocker) -> dict[str, TenantCtx]:
    """Tenants committed once for the whole session.

    `acme` and `globex` hold data written inside each test's rolled-back transaction;
    `wonka` holds committed data for tests that run real workers (see `live`).
    """
    made = {}
    with django_db_blocker.unblock():
        for slug in ("acme", "globex", "wonka"):
            tenant, key = tenant_create(slug=slug, name=slug.title(), domain=f"{slug}.localhost")
            made[slug] = TenantCtx(tenant=tenant, key=key, host=f"{slug}.localhost")
        connection.set_schema_to_public()
    return made


@pytest.fixture
def acme(test_tenants, db) -> TenantCtx:
    return test_tenants["acme"]


@pytest.fixture
def globex(test_tenants, db) -> TenantCtx:
    return test_tenants["globex"]


@pytest.fixture
def live(test_tenants, django_db_blocker):
    """Committed database access in the `wonka` tenant, for tests with real workers.

    Nothing is rolled back: tests use unique keys (see `unique`) instead.
    """
    wonka = test_tenants["wonka"]
    with django_db_blocker.unblock():
        with schema_context(wonka.schema):
            yield wonka
        connection.set_schema_to_public()


@pytest.fixture
def live_api(live) -> ApiClient:
    return ApiClient(live.host, live.key)


@pytest.fixture
def unique(request) -> str:
    """A short token unique to this test run, for keys in committed data."""
    import uuid

    return uuid.uuid4().hex[:10]


@pytest.fixture
def acme_api(acme) -> ApiClient:
    return ApiClient(acme.host, acme.key)


@pytest.fixture
def globex_api(globex) -> ApiClient:
    return ApiClient(globex.host, globex.key)


@pytest.fixture
def in_acme(acme):
    """Run the test body's ORM calls in acme's schema."""
    with schema_context(acme.schema):
        yield acme
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _no_cached_tenants():
    """Each test's tenants are new rows on the hosts the previous test's used."""
    tenant_cache.clear()
    yield
    tenant_cache.clear()


@pytest.fixture(autouse=True)
def _public_schema_after_test():
    yield
    if connection.connection is not None and connection.schema_name != get_public_schema_name():
        connection.set_schema_to_public()


# --- real Celery workers -------------------------------------------------------------------


def session_database_url() -> str:
    """The URL of the database this test session uses (test_<name>), for child processes."""
    base = os.environ.get("DATABASE_URL") or embedded.database_url()
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


# Short timings so retries, leases and re-dispatch happen within a test.
WORKER_SETTINGS = {
    "DELIVERY_RETRY_BASE_SECONDS": "0.2",
    "DELIVERY_RETRY_MAX_SECONDS": "1",
    "DELIVERY_LEASE_SECONDS": "4",
    "DELIVERY_REDISPATCH_SECONDS": "3",
    "SWEEP_INTERVAL_SECONDS": "1",
    "SEND_BATCH_SIZE_EMAIL": "50",
}
# The suite's worker leaves `low` alone: tests that kill workers run their own for it.
SUITE_QUEUES = "critical,high,normal,system"


def worker_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {"DATABASE_URL": session_database_url(), "LOG_LEVEL": "INFO", **WORKER_SETTINGS, **extra}
    )
    return env


def start_worker(queues: str, name: str, concurrency: int = 2, env: dict | None = None):
    (BASE_DIR / ".data").mkdir(exist_ok=True)
    log = open(BASE_DIR / ".data" / f"test-worker-{name}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
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
            "INFO",
        ],
        cwd=BASE_DIR,
        env=env or worker_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_worker(name: str, timeout: float = 60) -> None:
    from platform_core.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=0.5) or []
        if any(name in list(reply)[0] for reply in replies):
            return
    raise RuntimeError(f"worker {name} did not start; see .data/test-worker-{name}.log")


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def celery_worker(test_tenants, django_db_blocker):
    """One real worker process consuming every queue but `low`, against the test database."""
    from platform_core.celery import app

    with django_db_blocker.unblock():
        app.control.purge()
        proc = start_worker(SUITE_QUEUES, "suite")
        try:
            wait_for_worker("suite")
        except RuntimeError:
            stop_process(proc)
            raise
        yield proc
        stop_process(proc)


@pytest.fixture
def low_worker(celery_worker):
    """A worker of its own for the `low` queue, stopped (or killed) by the test or after it."""
    proc = start_worker("low", "low", concurrency=1)
    wait_for_worker("low")
    yield proc
    stop_process(proc)
