"""Structured logs carry the request's correlation id and tenant; cache keys carry the tenant."""

import io
import json
import logging
import uuid

from django.core.cache import cache
from django.db import connection
from django_tenants.utils import schema_context

from platform_core.observability import ContextFilter, request_id_var, tenant_var


def json_logger(stream):
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("clarion.test.json")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_log_lines_are_json_with_request_id_and_tenant():
    stream = io.StringIO()
    logger = json_logger(stream)
    tokens = request_id_var.set("req-42"), tenant_var.set("acme")
    try:
        logger.info("delivery sent")
    finally:
        request_id_var.reset(tokens[0])
        tenant_var.reset(tokens[1])

    line = json.loads(stream.getvalue())
    assert line["message"] == "delivery sent"
    assert line["request_id"] == "req-42"
    assert line["tenant"] == "acme"


def test_request_logs_carry_the_callers_request_id(acme_api, caplog, settings):
    # An unknown route logs a warning from Django's request handler inside the request.
    with caplog.at_level(logging.WARNING, logger="django.request"):
        acme_api.get("/api/v1/does-not-exist", headers={"X-Request-ID": "trace-77"})

    records = [r for r in caplog.records if r.name == "django.request"]
    assert records, "django.request logged nothing for a 404"
    ContextFilter().filter(records[0])
    assert records[0].request_id == "trace-77"


def test_cache_keys_are_scoped_per_tenant(test_tenants, db):
    key = f"greeting-{uuid.uuid4().hex}"
    with schema_context(test_tenants["acme"].schema):
        cache.set(key, "hello acme", 30)
    with schema_context(test_tenants["globex"].schema):
        assert cache.get(key) is None
        cache.set(key, "hello globex", 30)
    with schema_context(test_tenants["acme"].schema):
        assert cache.get(key) == "hello acme"
    connection.set_schema_to_public()
