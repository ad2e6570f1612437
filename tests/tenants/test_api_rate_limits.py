"""API rate limits: per key and category, counted in real Redis, 429 with the headers."""

from __future__ import annotations

import logging

import pytest
import redis

from notifications.api.authentication import subscriber_hash
from notifications.models import Subscriber
from tenants import ratelimits
from tenants.admin import TenantForm
from tenants.models import Tenant
from tenants.ratelimits import Limit, limits_parse
from tests.conftest import ApiClient

LIMITS = "events=2/60,config=3/60,read=5/60,inbox=2/60"


@pytest.fixture(autouse=True)
def fresh_counters(settings):
    """Small limits, and no counts left over from other tests."""
    settings.API_RATE_LIMITS = LIMITS
    client = redis.Redis.from_url(settings.API_RATE_LIMIT_REDIS_URL)
    for key in client.scan_iter("clarion:rl:*"):
        client.delete(key)
    client.close()
    yield


def rate_headers(response) -> tuple[int, int, int] | None:
    if "RateLimit-Limit" not in response.headers:
        return None
    return tuple(
        int(response.headers[name])
        for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
    )


# --- the setting's syntax --------------------------------------------------------------------


def test_limits_are_read_from_category_limit_slash_seconds():
    assert limits_parse("events=6000/60, config=300/60,read=off") == {
        "events": Limit(6000, 60),
        "config": Limit(300, 60),
        "read": None,
    }
    assert limits_parse("") == {}


@pytest.mark.parametrize(
    "text", ["events=10", "events=10/0", "events=0/60", "writes=10/60", "events:10/60", "read=no"]
)
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError):
        limits_parse(text)


@pytest.mark.django_db
def test_the_platform_admin_refuses_an_invalid_override():
    form = TenantForm(
        data={"slug": "limited", "name": "Limited", "is_active": True, "api_rate_limits": "x=1"}
    )
    assert not form.is_valid()
    assert "api_rate_limits" in form.errors
    form = TenantForm(
        data={"slug": "limited", "name": "L", "is_active": True, "api_rate_limits": "events=9/1"}
    )
    assert form.is_valid(), form.errors


# --- through the API -------------------------------------------------------------------------


@pytest.mark.django_db
def test_past_the_limit_is_a_429_with_retry_after_and_nothing_is_written(acme_api, in_acme):
    # when: four writes against a config limit of 3 per minute
    responses = [acme_api.post("/api/v1/topics", {"key": f"t{n}", "name": "T"}) for n in range(4)]

    # then: three pass, each saying what is left; the fourth is refused
    assert [r.status_code for r in responses] == [201, 201, 201, 429]
    assert [rate_headers(r)[:2] for r in responses] == [(3, 2), (3, 1), (3, 0), (3, 0)]
    assert all(1 <= rate_headers(r)[2] <= 60 for r in responses)
    refused = responses[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "config" in refused.json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) == rate_headers(refused)[2]
    from notifications.models import Topic

    assert sorted(Topic.objects.values_list("key", flat=True)) == ["t0", "t1", "t2"]


@pytest.mark.django_db
def test_categories_have_budgets_of_their_own(acme_api):
    # given: the events budget (2) is spent
    for _ in range(2):
        response = acme_api.post("/api/v1/events/trigger", {"event": "no.route", "to": ["u"]})
        assert response.status_code == 422
        assert rate_headers(response)[0] == 2
    assert acme_api.post("/api/v1/events/bulk", {"events": []}).status_code == 429
    assert (
        acme_api.post("/api/v1/events/trigger", {"event": "no.route", "to": ["u"]}).status_code
        == 429
    )

    # then: reads and configuration writes are not limited by it
    read = acme_api.get("/api/v1/topics")
    assert read.status_code == 200
    assert rate_headers(read)[:2] == (5, 4)
    write = acme_api.post("/api/v1/topics", {"key": "still", "name": "Still"})
    assert write.status_code == 201
    assert rate_headers(write)[:2] == (3, 2)


@pytest.mark.django_db
def test_each_api_key_has_its_own_budget(acme, acme_api):
    from tenants.services import api_key_create

    _, second_secret = api_key_create(tenant=acme.tenant, name="second")
    second = ApiClient(acme.host, second_secret)
    for _ in range(5):
        assert acme_api.get("/api/v1/topics").status_code == 200
    assert acme_api.get("/api/v1/topics").status_code == 429
    assert second.get("/api/v1/topics").status_code == 200


@pytest.mark.django_db
def test_a_tenants_overrides_apply_to_that_tenant_only(acme, acme_api, globex_api):
    Tenant.objects.filter(pk=acme.tenant.pk).update(api_rate_limits="read=1/60,config=off")

    assert acme_api.get("/api/v1/topics").status_code == 200
    refused = acme_api.get("/api/v1/topics")
    assert refused.status_code == 429
    assert rate_headers(refused)[:2] == (1, 0)
    # config is off for acme: no limit, no headers
    for n in range(5):
        response = acme_api.post("/api/v1/topics", {"key": f"free{n}", "name": "Free"})
        assert response.status_code == 201
        assert rate_headers(response) is None
    # globex keeps the platform's limits
    assert [globex_api.get("/api/v1/topics").status_code for _ in range(6)] == [200] * 5 + [429]


@pytest.mark.django_db
def test_inbox_requests_by_subscriber_hash_count_per_subscriber(acme, in_acme):
    Subscriber.objects.create(subscriber_id="ann")
    Subscriber.objects.create(subscriber_id="bob")

    def as_subscriber(subscriber_id: str):
        client = ApiClient(acme.host)
        digest = subscriber_hash(secret=acme.tenant.inbox_secret, subscriber_id=subscriber_id)
        return client.get(
            f"/api/v1/inbox/{subscriber_id}/count", headers={"X-Subscriber-Hash": digest}
        )

    ann = [as_subscriber("ann") for _ in range(3)]
    assert [r.status_code for r in ann] == [200, 200, 429]
    assert rate_headers(ann[0])[:2] == (2, 1)
    assert ann[2].json()["error"]["code"] == "rate_limited"
    # another subscriber of the same tenant has a budget of their own
    assert as_subscriber("bob").status_code == 200
    # and the API key's inbox budget is its own too
    keyed = ApiClient(acme.host, acme.key).get("/api/v1/inbox/ann/count")
    assert keyed.status_code == 200
    assert rate_headers(keyed)[:2] == (2, 1)


@pytest.mark.django_db
def test_requests_without_credentials_are_not_counted(acme):
    anonymous = ApiClient(acme.host)
    for _ in range(8):
        response = anonymous.get("/api/v1/topics")
        assert response.status_code == 401
        assert rate_headers(response) is None
    assert ApiClient(acme.host).get("/api/schema/").status_code == 200


@pytest.mark.django_db
def test_with_redis_down_requests_go_through_and_the_failure_is_logged(
    acme_api, settings, caplog, monkeypatch, tmp_path
):
    settings.API_RATE_LIMIT_REDIS_URL = f"unix://{tmp_path}/no-redis.sock"
    monkeypatch.setattr(ratelimits, "_last_logged", -1e9)

    with caplog.at_level(logging.WARNING, logger="tenants.ratelimits"):
        responses = [acme_api.get("/api/v1/topics") for _ in range(8)]

    assert [r.status_code for r in responses] == [200] * 8
    assert all(rate_headers(r) is None for r in responses)
    warnings = [r for r in caplog.records if r.name == "tenants.ratelimits"]
    assert len(warnings) == 1  # logged, not once per request
    assert "failing open" in warnings[0].getMessage()


@pytest.mark.django_db
def test_the_openapi_schema_documents_the_headers_and_the_429(acme):
    schema = ApiClient(acme.host).get("/api/schema/", headers={"Accept": "application/json"})
    assert schema.status_code == 200
    document = schema.json()
    trigger = document["paths"]["/api/v1/events/trigger"]["post"]["responses"]
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(
        trigger["202"]["headers"]
    )
    assert "Retry-After" in trigger["429"]["headers"]
    assert document["components"]["headers"]["RateLimit-Reset"]["schema"]["example"] == 42
