"""One budget across web processes: a real gunicorn with two worker processes, many
requests over keep-alive connections, and exactly the limit allowed in total."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
import redis

from tests.conftest import BASE_DIR, stop_process, worker_env
from tests.notifications.pipeline_helpers import wait_until
from tests.platform_core.test_outages import _free_port

LIMIT = 25
CONNECTIONS = 16
REQUESTS_PER_CONNECTION = 12


@pytest.fixture
def two_worker_gunicorn(live, tmp_path):
    """gunicorn --workers 2 on 127.0.0.1 with a small `read` limit; logs each request's pid."""
    env = worker_env(API_RATE_LIMITS=f"events=off,config=off,read={LIMIT}/3600,inbox=off")
    _clear_counters()
    port = _free_port()
    access_log = tmp_path / "access.log"
    log = open(BASE_DIR / ".data" / "test-web-ratelimits.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "platform_core.wsgi",
            "-c",
            str(BASE_DIR / "docker" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            # A worker holding this many connections accepts no more, so the keep-alive
            # connections are split between the two processes (a connection gunicorn
            # closes is reopened by the client and accepted again).
            "--worker-connections",
            str(CONNECTIONS // 2),
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s %(s)s %(U)s",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Both workers up: each boots on its own, and one still booting would leave every
        # connection to the other.
        wait_until(
            lambda: _healthy(port, proc) and len(_pids(access_log)) == 2,
            timeout=60,
            interval=0.05,
            what="both gunicorn workers serving",
        )
        yield port, access_log
    finally:
        stop_process(proc)
        log.close()
        _clear_counters()


def _clear_counters() -> None:
    from django.conf import settings

    client = redis.Redis.from_url(settings.API_RATE_LIMIT_REDIS_URL)
    for key in client.scan_iter("clarion:rl:*"):
        client.delete(key)
    client.close()


def _pids(access_log: Path) -> set[str]:
    """The worker processes that have served a request so far."""
    if not access_log.exists():
        return set()
    return {line.split()[0] for line in access_log.read_text().splitlines() if line.strip()}


def _healthy(port: int, proc: subprocess.Popen) -> bool:
    assert proc.poll() is None, "gunicorn exited; see .data/test-web-ratelimits.log"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def test_two_gunicorn_workers_share_one_budget(two_worker_gunicorn, live):
    port, access_log = two_worker_gunicorn
    statuses: Counter[int] = Counter()
    seen: list[tuple[int, str | None, str | None]] = []
    lock = threading.Lock()
    start = threading.Barrier(CONNECTIONS)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        try:
            for _ in range(REQUESTS_PER_CONNECTION):
                connection.request(
                    "GET",
                    "/api/v1/topics",
                    headers={"Host": live.host, "Authorization": f"ApiKey {live.key}"},
                )
                response = connection.getresponse()
                body = json.loads(response.read() or b"null")
                with lock:
                    statuses[response.status] += 1
                    seen.append(
                        (
                            response.status,
                            response.getheader("RateLimit-Limit"),
                            response.getheader("Retry-After"),
                        )
                    )
                    if response.status == 429:
                        assert body["error"]["code"] == "rate_limited"
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then: exactly the limit passed, whichever process served each request
    total = CONNECTIONS * REQUESTS_PER_CONNECTION
    assert sum(statuses.values()) == total
    assert statuses[200] == LIMIT, statuses
    assert statuses[429] == total - LIMIT, statuses
    assert {limit for _, limit, _ in seen} == {str(LIMIT)}
    assert all(int(retry) >= 1 for status, _, retry in seen if status == 429)

    # and both worker processes served more requests than the limit: counted per process,
    # about twice the limit would have passed
    def api_lines() -> list[list[str]]:
        lines = [line.split() for line in access_log.read_text().splitlines()]
        return [line for line in lines if line[2:] == ["/api/v1/topics"]]

    wait_until(lambda: len(api_lines()) >= total, timeout=10, what="the access log")
    served = Counter(pid for pid, _, _ in api_lines())
    allowed = Counter(pid for pid, status, _ in api_lines() if status == "200")
    assert len(served) == 2, (served, access_log.read_text()[:2000])
    assert min(served.values()) > LIMIT, served
    assert sum(served.values()) == total, served
    assert sum(allowed.values()) == LIMIT, allowed
