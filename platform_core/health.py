"""Liveness, readiness and metrics endpoints (served without tenant resolution)."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from kombu import Connection as BrokerConnection
from prometheus_client import CONTENT_TYPE_LATEST

from platform_core.broker import queue_depths
from platform_core.observability import metrics_payload

CHECK_TIMEOUT_SECONDS = 2


def healthz(request):
    """The process is alive and serving."""
    return JsonResponse({"status": "ok"})


def _timed(check):
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:  # noqa: BLE001 - every failure is a "down" state to report
        return {
            "status": "down",
            "error": f"{type(exc).__name__}: {exc}"[:300],
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }
    result = {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    result.update(detail or {})
    return result


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.CACHES["default"]["LOCATION"],
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
    )


def _check_redis():
    client = _redis_client()
    try:
        client.ping()
    finally:
        client.close()


def _check_broker():
    """Connects to the broker and reads each priority queue's backlog."""
    with BrokerConnection(
        settings.CELERY_BROKER_URL,
        connect_timeout=CHECK_TIMEOUT_SECONDS,
        transport_options={
            "socket_connect_timeout": CHECK_TIMEOUT_SECONDS,
            "socket_timeout": CHECK_TIMEOUT_SECONDS,
        },
    ) as broker:
        broker.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT_SECONDS
        )
        backlog = queue_depths(broker, settings.CELERY_QUEUE_NAMES)
    limit = settings.READYZ_MAX_QUEUE_BACKLOG
    over = [name for name, size in backlog.items() if limit and size and size > limit]
    if over:
        raise RuntimeError(f"queue backlog over {limit}: {', '.join(over)}")
    return {"queue_backlog": backlog}


def readyz(request):
    """Each dependency's state; 503 when any is down."""
    checks = {
        "database": _timed(_check_database),
        "redis": _timed(_check_redis),
        "broker": _timed(_check_broker),
    }
    ready = all(check["status"] == "ok" for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def metrics(request):
    """Prometheus text exposition."""
    return HttpResponse(metrics_payload(), content_type=CONTENT_TYPE_LATEST)
