"""Correlation ids, structured-log context and Prometheus metrics."""

from __future__ import annotations

import logging
import os
import re
import uuid
from contextvars import ContextVar

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
tenant_var: ContextVar[str | None] = ContextVar("tenant", default=None)

# Not "correlation_id": Celery uses that name for the task id in message properties.
CORRELATION_HEADER = "clarion_request_id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_from_header(value: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Adds `request_id` and `tenant` to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        if not hasattr(record, "tenant"):
            record.tenant = tenant_var.get()
        return True


HTTP_REQUESTS = Counter(
    "clarion_http_requests_total",
    "HTTP requests served, by method, route pattern and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "clarion_http_request_duration_seconds",
    "HTTP request latency by method and route pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TASKS = Counter(
    "clarion_celery_tasks_total",
    "Celery tasks finished, by task name and outcome.",
    ["task", "outcome"],
)
DELIVERY_OUTCOMES = Counter(
    "clarion_deliveries_total",
    "Delivery outcomes (sent, delivered, opened, clicked, bounced, failed, dead, skipped) by "
    "channel, counted from the delivery history.",
    ["channel", "outcome"],
)
DELIVERY_SEND_LATENCY = Histogram(
    "clarion_delivery_send_latency_seconds",
    "Seconds from a delivery's creation to the provider accepting it, by channel.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)


def metrics_payload() -> bytes:
    """Prometheus text exposition; aggregates all processes when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(DEFAULT_REGISTRY)
