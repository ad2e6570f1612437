"""Hostile URLs, hosts and pages: a 4xx in the right shape, before any query runs."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tenants.services import tenant_admin_create
from tests.conftest import ApiClient, admin_login
from tests.factories import SubscriberFactory

PASSWORD = "acme-admin-pass-1"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_invalid_characters(response, field):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid_characters"
    assert error["message"]
    assert field in error["fields"]


# --- control characters in the URL ---------------------------------------------------------


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("/api/v1/subscribers/user%00one", None, "path"),
        ("/api/v1/topics/a%00b", None, "path"),
        ("/api/v1/templates/welcome%01", None, "path"),
        ("/api/v1/notifications", {"event": "order\x00shipped"}, "event"),
        ("/api/v1/notifications", {"status": "sent\x00"}, "status"),
        ("/api/v1/notifications", {"subscriber_id": "\x00"}, "subscriber_id"),
        ("/api/v1/deliveries", {"subscriber_id": "user\x00-1"}, "subscriber_id"),
        ("/api/v1/subscribers", {"email": "a\x00@example.com"}, "email"),
        ("/api/v1/subscribers", {"cursor": "\x1b[0m"}, "cursor"),
        ("/api/v1/inbox/user-1/messages", {"status": "all\x7f"}, "status"),
    ],
)
def test_control_characters_in_the_url_are_a_400_before_any_query(
    acme_api, in_acme, path, params, field
):
    # given a subscriber, so that a lookup would have something to find
    SubscriberFactory(subscriber_id="user-1")

    with CaptureQueriesContext(connection) as queries:
        response = acme_api.get(path, params)

    assert_invalid_characters(response, field)
    assert len(queries) == 0


def test_a_control_character_in_a_query_parameter_name_is_refused_too(acme_api):
    response = acme_api.get("/api/v1/subscribers?em%00ail=x")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_characters"


def test_control_characters_are_refused_before_the_api_key_is_read(acme):
    # on the platform host the key is looked up in the database: that comes after
    response = ApiClient("localhost", acme.key).get("/api/v1/notifications", {"event": "\x00"})

    assert_invalid_characters(response, "event")


def test_ordinary_unicode_and_spaces_in_filters_still_work(acme_api, in_acme):
    SubscriberFactory(subscriber_id="user-1", email="zoë@example.com")

    response = acme_api.get("/api/v1/subscribers", {"email": "zoë@example.com"})

    assert response.status_code == 200
    assert [s["subscriber_id"] for s in response.json()["results"]] == ["user-1"]
    assert acme_api.get("/api/v1/notifications", {"event": "order shipped"}).status_code == 200


@pytest.fixture
def admin_client(acme):
    tenant_admin_create(tenant=acme.tenant, email="ops@acme.test", password=PASSWORD)
    client = admin_login(acme.host, "ops@acme.test", PASSWORD)
    assert client is not None
    return client


@pytest.mark.parametrize(
    "params",
    [{"q": "user\x00"}, {"channel__exact": "email\x00"}, {"status__exact": "\x00"}],
)
def test_the_admin_changelist_answers_an_html_400_page(admin_client, params):
    # the same search without the NUL works
    assert admin_client.get("/admin/notifications/subscriber/", {"q": "user"}).status_code == 200

    response = admin_client.get("/admin/notifications/delivery/", params)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"control characters" in response.content


# --- browser-only middleware ----------------------------------------------------------------


def test_an_admin_session_is_no_key_to_the_api_which_reads_no_session(admin_client):
    # given: a browser signed in to the admin
    assert admin_client.get("/admin/").status_code == 200

    # when: it calls the API with its session cookie and no key
    response = admin_client.post(
        "/api/v1/subscribers", {"subscriber_id": "via-session"}, content_type="application/json"
    )

    # then: the API asks for a key; the session was neither read nor renewed
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies


def test_admin_forms_still_need_their_csrf_token(acme, admin_client):
    client = Client(HTTP_HOST=acme.host, enforce_csrf_checks=True)

    response = client.post("/admin/login/", {"username": "ops@acme.test", "password": PASSWORD})

    assert response.status_code == 403
    assert b"CSRF" in response.content


# --- hosts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["ACME.localhost", "Acme.LocalHost", "acme.LOCALHOST:8000"])
def test_the_host_is_resolved_regardless_of_case(acme, host):
    response = ApiClient(host, acme.key).get("/api/v1/subscribers")

    assert response.status_code == 200, response.content
    assert response.json() == {"results": [], "next": None}


def test_a_domain_stored_with_capitals_is_found_by_any_case(acme, test_tenants):
    from tenants.models import Domain

    Domain.objects.create(domain="Shop.Acme.localhost", tenant=acme.tenant, is_primary=False)

    for host in ("shop.acme.localhost", "SHOP.ACME.LOCALHOST"):
        response = ApiClient(host, acme.key).get("/api/v1/subscribers")
        assert response.status_code == 200, (host, response.content)


def test_an_unknown_host_in_capitals_is_still_a_404_in_the_envelope(acme):
    response = Client(HTTP_HOST="NOBODY.localhost").get("/api/v1/subscribers")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_tenant"


# --- pagination -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/topics", "/api/v1/deliveries"])
@pytest.mark.parametrize("cursor", ["not-a-cursor", "%%%", "=" * 8, b64("x=1"), b64("o=two")])
def test_a_bad_cursor_is_a_400_invalid_cursor(acme_api, path, cursor):
    response = acme_api.get(path, {"cursor": cursor})

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_cursor"
    assert "cursor" in error["fields"]


@pytest.mark.parametrize("path", ["/api/v1/subscribers", "/api/v1/notifications"])
def test_a_cursor_whose_position_is_not_a_timestamp_is_a_400(acme_api, path):
    # these lists are ordered by creation time
    response = acme_api.get(path, {"cursor": b64("p=not-a-date")})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("path", ["/api/v1/templates", "/api/v1/deliveries"])
@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "2.5", "", "9" * 5000])
def test_a_bad_or_out_of_range_limit_is_a_400_naming_limit(acme_api, path, limit):
    response = acme_api.get(path, {"limit": limit})

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == ["limit"]


def test_limits_within_the_bounds_page_through_everything(acme_api, in_acme):
    for index in range(3):
        SubscriberFactory(subscriber_id=f"user-{index}")

    first = acme_api.get("/api/v1/subscribers", {"limit": "2"}).json()
    second = acme_api.get(first["next"]).json()
    largest = acme_api.get("/api/v1/subscribers", {"limit": "500"})

    assert len(first["results"]) == 2
    assert len(second["results"]) == 1 and second["next"] is None
    assert largest.status_code == 200 and len(largest.json()["results"]) == 3


def test_the_schema_documents_the_limit_bounds(acme_api):
    schema = acme_api.get("/api/schema/", {"format": "json"}).json()

    (limit,) = [
        parameter
        for parameter in schema["paths"]["/api/v1/templates"]["get"]["parameters"]
        if parameter["name"] == "limit"
    ]
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] == 500
    assert "400" in limit["description"]


# --- content negotiation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json", "application/*", "text/html, */*;q=0.1"]
)
def test_what_any_json_client_accepts_is_answered_in_json(acme_api, accept):
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}

    response = acme_api.get("/api/v1/subscribers", **extra)

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"results": [], "next": None}


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/*"])
def test_a_body_the_api_cannot_write_is_a_406_in_the_envelope(acme_api, accept):
    response = acme_api.get("/api/v1/subscribers", HTTP_ACCEPT=accept)

    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_acceptable"
