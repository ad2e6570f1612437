"""Which tenant a request belongs to: by host, or on the platform host by API key."""

import pytest

from tests.conftest import ApiClient


def test_tenant_resolved_from_host(acme, acme_api):
    # when
    response = acme_api.get("/api/v1/tenant")
    # then
    assert response.status_code == 200
    assert response.json()["slug"] == "acme"


def test_tenant_resolved_from_key_on_platform_host(globex):
    response = ApiClient("localhost", globex.key).get("/api/v1/tenant")

    assert response.status_code == 200
    assert response.json()["slug"] == "globex"


def test_key_of_another_tenant_is_refused_on_a_tenant_host(acme, globex):
    response = ApiClient(globex.host, acme.key).get("/api/v1/tenant")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "ApiKey"


@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_missing_key_is_401(acme, host):
    response = ApiClient(host).get("/api/v1/tenant")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("key", ["nonsense", "ck_aaaaaaaa.wrong-secret", "ck_short.x"])
@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_invalid_key_is_401(acme, host, key):
    response = ApiClient(host, key).get("/api/v1/tenant")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_right_prefix_wrong_secret_is_401(acme):
    prefix = acme.key.split(".")[0]

    response = ApiClient(acme.host, f"{prefix}.not-the-secret").get("/api/v1/tenant")

    assert response.status_code == 401


def test_unknown_host_is_a_json_404(acme):
    response = ApiClient("nobody.localhost", acme.key).get("/api/v1/tenant")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "unknown_tenant"


def test_disallowed_host_is_a_json_400(acme):
    response = ApiClient("evil.example.org", acme.key).get("/api/v1/tenant")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "disallowed_host"


def test_inactive_tenant_is_not_served(acme, acme_api):
    acme.tenant.__class__.objects.filter(pk=acme.tenant.pk).update(is_active=False)

    by_host = acme_api.get("/api/v1/tenant")
    by_key = ApiClient("localhost", acme.key).get("/api/v1/tenant")

    assert by_host.status_code == 404
    assert by_key.status_code == 401
