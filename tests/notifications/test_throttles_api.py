"""Throttles API (`/api/v1/throttles`), and the rate limit settings of integrations."""

import pytest
from django_tenants.utils import schema_context

from notifications.models import Throttle
from tests.conftest import ApiClient
from tests.factories import WorkflowFactory


@pytest.fixture
def workflows(acme):
    with schema_context(acme.schema):
        WorkflowFactory(key="marketing")


def throttle(**overrides):
    return {"key": "sms-3-per-hour", "limit": 3, "window_seconds": 3600, "channel": "sms",
            **overrides}  # fmt: skip


def error_of(response, status, code="validation_error"):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    return error


def fields_of(response):
    return {k: v for k, v in response.json().items() if k not in ("created_at", "updated_at")}


def test_create_with_defaults_then_get_and_list(acme_api):
    # when
    response = acme_api.post("/api/v1/throttles", throttle())
    # then
    assert response.status_code == 201, response.content
    expected = {
        "key": "sms-3-per-hour",
        "limit": 3,
        "window_seconds": 3600,
        "channel": "sms",
        "workflow": None,
        "applies_to_critical": False,
    }
    assert fields_of(response) == expected
    assert fields_of(acme_api.get("/api/v1/throttles/sms-3-per-hour")) == expected
    listed = acme_api.get("/api/v1/throttles").json()
    assert [item["key"] for item in listed["results"]] == ["sms-3-per-hour"]
    assert listed["next"] is None


def test_a_throttle_over_every_channel_of_one_workflow(acme_api, workflows):
    body = throttle(key="marketing-daily", channel=None, workflow="marketing", limit=1,
                    window_seconds=86400, applies_to_critical=True)  # fmt: skip
    response = acme_api.post("/api/v1/throttles", body)
    assert response.status_code == 201, response.content
    assert fields_of(response) == {**body}
    only = acme_api.get("/api/v1/throttles", {"workflow": "marketing"}).json()["results"]
    assert [item["key"] for item in only] == ["marketing-daily"]
    assert acme_api.get("/api/v1/throttles", {"channel": "sms"}).json()["results"] == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": "three"}, "limit"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_seconds": 10**9}, "window_seconds"),
        ({"channel": "fax"}, "channel"),
        ({"workflow": "no-such-workflow"}, "workflow"),
        ({"key": "has space"}, "key"),
        ({"per": "hour"}, "per"),
    ],
)
def test_invalid_bodies_name_the_field_and_change_nothing(acme, acme_api, overrides, field):
    error = error_of(acme_api.post("/api/v1/throttles", throttle(**overrides)), 400)
    assert field in error["fields"], error
    with schema_context(acme.schema):
        assert not Throttle.objects.exists()


def test_missing_fields_are_named(acme_api):
    error = error_of(acme_api.post("/api/v1/throttles", {"key": "x"}), 400)
    assert set(error["fields"]) == {"limit", "window_seconds"}


def test_a_key_in_use_is_a_conflict(acme_api):
    assert acme_api.post("/api/v1/throttles", throttle()).status_code == 201
    error_of(acme_api.post("/api/v1/throttles", throttle(limit=5)), 409, "throttle_exists")


def test_put_replaces_every_field(acme_api, workflows):
    acme_api.post("/api/v1/throttles", throttle(applies_to_critical=True))
    # when: omitted fields take their defaults
    response = acme_api.put(
        "/api/v1/throttles/sms-3-per-hour",
        {"limit": 10, "window_seconds": 60, "workflow": "marketing"},
    )
    # then
    assert response.status_code == 200, response.content
    assert fields_of(response) == {
        "key": "sms-3-per-hour",
        "limit": 10,
        "window_seconds": 60,
        "channel": None,
        "workflow": "marketing",
        "applies_to_critical": False,
    }
    assert fields_of(acme_api.get("/api/v1/throttles/sms-3-per-hour")) == fields_of(response)


def test_put_validates_and_may_not_rename(acme_api):
    acme_api.post("/api/v1/throttles", throttle())
    path = "/api/v1/throttles/sms-3-per-hour"
    error = error_of(acme_api.put(path, throttle(key="other")), 400)
    assert "key" in error["fields"]
    error = error_of(acme_api.put(path, throttle(limit=-1)), 400)
    assert "limit" in error["fields"]
    assert acme_api.get(path).json()["limit"] == 3


def test_delete_then_404(acme_api):
    acme_api.post("/api/v1/throttles", throttle())
    assert acme_api.delete("/api/v1/throttles/sms-3-per-hour").status_code == 204
    error_of(acme_api.get("/api/v1/throttles/sms-3-per-hour"), 404, "not_found")
    error_of(acme_api.delete("/api/v1/throttles/sms-3-per-hour"), 404, "not_found")
    error_of(acme_api.put("/api/v1/throttles/nope", throttle()), 404, "not_found")


def test_throttles_are_invisible_to_other_tenants(acme_api, globex, globex_api):
    acme_api.post("/api/v1/throttles", throttle())
    by_key = ApiClient("localhost", globex.key)
    for client in (globex_api, by_key):
        path = "/api/v1/throttles/sms-3-per-hour"
        error_of(client.get(path), 404, "not_found")
        error_of(client.put(path, throttle(limit=1)), 404, "not_found")
        error_of(client.delete(path), 404, "not_found")
        assert client.get("/api/v1/throttles").json()["results"] == []
    # the same key is free in the other tenant
    assert globex_api.post("/api/v1/throttles", throttle(limit=1)).status_code == 201
    assert acme_api.get("/api/v1/throttles/sms-3-per-hour").json()["limit"] == 3


def test_unauthenticated_is_401(acme):
    assert ApiClient(acme.host).get("/api/v1/throttles").status_code == 401


# --- integration rate limits ----------------------------------------------------------------


def console_sms(**settings):
    return {"channel": "sms", "provider": "console", "name": "Dev SMS", "settings": settings}


def test_an_integration_takes_a_rate_limit_and_burst(acme_api):
    response = acme_api.post("/api/v1/integrations", console_sms(rate_limit_per_second=20, burst=5))
    assert response.status_code == 201, response.content
    assert response.json()["settings"] == {"rate_limit_per_second": 20, "burst": 5}
    fractional = acme_api.post("/api/v1/integrations", console_sms(rate_limit_per_second=0.5))
    assert fractional.status_code == 201, fractional.content


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"rate_limit_per_second": 0}, "settings.rate_limit_per_second"),
        ({"rate_limit_per_second": -3}, "settings.rate_limit_per_second"),
        ({"rate_limit_per_second": "20"}, "settings.rate_limit_per_second"),
        ({"rate_limit_per_second": True}, "settings.rate_limit_per_second"),
        ({"rate_limit_per_second": 20, "burst": 0}, "settings.burst"),
        ({"rate_limit_per_second": 20, "burst": 2.5}, "settings.burst"),
        ({"burst": 5}, "settings.burst"),
    ],
)
def test_invalid_rate_limits_are_400_naming_the_setting(acme_api, settings, field):
    error = error_of(acme_api.post("/api/v1/integrations", console_sms(**settings)), 400)
    assert list(error["fields"]) == [field], error
    assert acme_api.get("/api/v1/integrations").json()["results"] == []


def test_a_rate_limit_change_is_validated_on_update(acme_api):
    integration_id = acme_api.post("/api/v1/integrations", console_sms()).json()["id"]
    path = f"/api/v1/integrations/{integration_id}"
    error = error_of(acme_api.patch(path, {"settings": {"rate_limit_per_second": 0}}), 400)
    assert "settings.rate_limit_per_second" in error["fields"]
    assert acme_api.get(path).json()["settings"] == {}
