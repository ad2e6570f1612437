"""/healthz, /readyz and /metrics, served without tenant resolution."""

import pytest
from django.test import Client


@pytest.fixture
def client():
    return Client(HTTP_HOST="localhost")


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("host", ["localhost", "acme.localhost", "unknown.localhost", "10.1.2.3"])
def test_healthz_answers_on_any_host(test_tenants, host):
    assert Client(HTTP_HOST=host).get("/healthz").status_code == 200


def test_readyz_reports_every_dependency(db, client):
    response = client.get("/readyz")

    assert response.status_code == 200
    checks = response.json()["checks"]
    assert {name: check["status"] for name, check in checks.items()} == {
        "database": "ok",
        "redis": "ok",
        "broker": "ok",
    }
    assert set(checks["broker"]["queue_backlog"]) == {"critical", "high", "normal", "low", "system"}


def test_readyz_is_503_when_redis_is_unreachable(db, client, settings):
    # given: Redis (cache and broker) pointing at a port nothing listens on
    unreachable = "redis://127.0.0.1:9/0"
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": unreachable},
    }
    settings.CELERY_BROKER_URL = unreachable
    # when
    response = client.get("/readyz")
    # then
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["redis"]["error"]


def test_readyz_is_503_when_the_database_is_unreachable(client, django_db_blocker):
    from django.db import connections

    # given: the connection pointing at a port nothing listens on
    conn = connections["default"]
    original = conn.settings_dict.copy()
    conn.close()
    conn.settings_dict.update({"HOST": "127.0.0.1", "PORT": "9", "OPTIONS": {"connect_timeout": 1}})
    try:
        with django_db_blocker.unblock():
            response = client.get("/readyz")
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(original)

    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "down"
    assert response.json()["checks"]["redis"]["status"] == "ok"


def test_metrics_count_requests_by_route(acme_api, client):
    acme_api.get("/api/v1/tenant")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'clarion_http_requests_total{method="GET",route="api/v1/tenant",status="200"}' in text
    assert "clarion_http_request_duration_seconds_bucket" in text


def test_request_id_is_echoed_or_generated(acme_api):
    echoed = acme_api.get("/api/v1/tenant", headers={"X-Request-ID": "req-abc-123"})
    generated = acme_api.get("/api/v1/tenant")

    assert echoed["X-Request-ID"] == "req-abc-123"
    assert len(generated["X-Request-ID"]) == 32


def test_unsafe_request_id_is_replaced(acme_api):
    response = acme_api.get("/api/v1/tenant", headers={"X-Request-ID": "bad id\nwith newline"})
    assert response["X-Request-ID"] != "bad id\nwith newline"
