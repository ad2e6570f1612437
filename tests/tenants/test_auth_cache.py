"""The per-process caches of a host's tenant and an API key: hits are kept for
CLARION_AUTH_CACHE_SECONDS, a revoked key stops working at once where it was revoked and
within that time everywhere else."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from tenants.models import ApiKey
from tenants.services import api_key_create, api_key_revoke, api_keys_revoke
from tests.conftest import ApiClient, worker_env
from tests.platform_core.test_outages import WebServer

TTL = 5


def test_a_key_revoked_in_this_process_fails_at_once(acme):
    key, secret = api_key_create(tenant=acme.tenant)
    api = ApiClient(acme.host, secret)
    assert api.get("/api/v1/tenant").status_code == 200

    api_key_revoke(tenant=acme.tenant, prefix=key.prefix)

    response = api.get("/api/v1/tenant")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_keys_revoked_together_fail_at_once(acme):
    secrets = [api_key_create(tenant=acme.tenant, name=f"k{i}")[1] for i in range(2)]
    for secret in secrets:
        assert ApiClient(acme.host, secret).get("/api/v1/tenant").status_code == 200

    assert api_keys_revoke(keys=ApiKey.objects.filter(name__in=["k0", "k1"])) == 2

    assert [ApiClient(acme.host, s).get("/api/v1/tenant").status_code for s in secrets] == [
        401,
        401,
    ]


@override_settings(CLARION_AUTH_CACHE_SECONDS=60)
def test_a_cached_host_keeps_its_tenant_until_the_cache_is_cleared(acme, acme_api):
    from tenants import cache

    assert acme_api.get("/api/v1/tenant").status_code == 200
    acme.tenant.__class__.objects.filter(pk=acme.tenant.pk).update(is_active=False)
    assert acme_api.get("/api/v1/tenant").status_code == 200

    cache.clear()

    assert acme_api.get("/api/v1/tenant").status_code == 404


@override_settings(CLARION_AUTH_CACHE_SECONDS=0)
def test_without_the_cache_every_request_looks_the_tenant_up(acme, acme_api):
    assert acme_api.get("/api/v1/tenant").status_code == 200
    acme.tenant.__class__.objects.filter(pk=acme.tenant.pk).update(is_active=False)

    assert acme_api.get("/api/v1/tenant").status_code == 404


@pytest.fixture
def cached_web(live):
    web = WebServer(worker_env(CLARION_AUTH_CACHE_SECONDS=str(TTL)), "auth-cache")
    yield web
    web.stop()


def test_a_key_revoked_in_another_process_stops_working_within_the_cache_time(live, cached_web):
    key, secret = api_key_create(tenant=live.tenant, name="revoked-elsewhere")
    assert cached_web.request("GET", "/api/v1/tenant", host=live.host, key=secret)[0] == 200

    api_key_revoke(tenant=live.tenant, prefix=key.prefix)
    revoked_at = time.monotonic()
    # The web process still holds the key it looked up a moment ago...
    assert cached_web.request("GET", "/api/v1/tenant", host=live.host, key=secret)[0] == 200
    # ...and refuses it once that entry expires.
    while cached_web.request("GET", "/api/v1/tenant", host=live.host, key=secret)[0] == 200:
        assert time.monotonic() - revoked_at < TTL + 3, "the revoked key still works"
        time.sleep(0.2)
    status, _, body = cached_web.request("GET", "/api/v1/tenant", host=live.host, key=secret)
    assert status == 401
    assert body["error"]["code"] == "authentication_failed"
