"""CORS for the in-app inbox: a tenant's own front end (another origin) may call
`/api/v1/inbox/...` from a browser; origins are per tenant (platform admin) plus a settings
default; no other endpoint answers cross-origin."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from notifications.api.authentication import subscriber_hash
from notifications.models import Subscriber
from tenants.models import Tenant
from tests.conftest import admin_login
from tests.tenants.test_admin import platform_superuser

APP = "https://app.acme.example"
INBOX = "/api/v1/inbox/reader/messages"


@pytest.fixture
def acme_origins(acme):
    Tenant.objects.filter(pk=acme.tenant.pk).update(cors_allowed_origins=[APP])
    return acme


def preflight(host, path, origin, headers="authorization, x-subscriber-hash, content-type"):
    return Client(HTTP_HOST=host).options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": headers,
        },
    )


def test_a_preflight_from_an_allowed_origin_gets_what_the_inbox_needs(acme_origins):
    response = preflight(acme_origins.host, INBOX, APP, "x-subscriber-hash, last-event-id")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-subscriber-hash", "content-type", "last-event-id"} <= allowed
    assert {"GET", "POST"} <= {
        m.strip() for m in response["Access-Control-Allow-Methods"].split(",")
    }
    assert "Access-Control-Allow-Credentials" not in response
    assert "origin" in response["Vary"].lower()


def test_an_allowed_origin_reads_the_inbox_with_the_subscriber_hash(acme_origins):
    with schema_context(acme_origins.schema):
        Subscriber.objects.create(subscriber_id="reader")
    token = subscriber_hash(secret=acme_origins.tenant.inbox_secret, subscriber_id="reader")

    response = Client(HTTP_HOST=acme_origins.host).get(
        INBOX, headers={"Origin": APP, "X-Subscriber-Hash": token}
    )

    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == APP
    assert "origin" in response["Vary"].lower()
    assert "RateLimit-Remaining" in response["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://app.acme.example", "null"])
def test_other_origins_get_no_cors_headers(acme_origins, origin):
    response = preflight(acme_origins.host, INBOX, origin)

    assert "Access-Control-Allow-Origin" not in response
    assert "origin" in response["Vary"].lower()


def test_one_tenants_origins_do_not_open_another_tenants_inbox(acme_origins, globex):
    response = preflight(globex.host, INBOX, APP)

    assert "Access-Control-Allow-Origin" not in response


def test_other_endpoints_answer_no_cross_origin_request(acme_origins):
    for path in ("/api/v1/subscribers", "/api/v1/templates", "/admin/login/"):
        response = preflight(acme_origins.host, path, APP)
        assert "Access-Control-Allow-Origin" not in response, path
        get = Client(HTTP_HOST=acme_origins.host).get(path, headers={"Origin": APP})
        assert "Access-Control-Allow-Origin" not in get, path
        assert "origin" not in get.get("Vary", "").lower(), path


def test_the_settings_default_applies_to_every_tenant(settings, acme, globex):
    settings.CORS_ALLOWED_ORIGINS = ["https://widget.example"]

    for ctx in (acme, globex):
        response = preflight(ctx.host, INBOX, "https://widget.example")
        assert response["Access-Control-Allow-Origin"] == "https://widget.example"


def test_the_platform_admin_edits_a_tenants_origins(acme):
    client = admin_login("localhost", "root", platform_superuser())
    url = f"/admin/tenants/tenant/{acme.tenant.pk}/change/"
    form = {"name": "Acme", "is_active": "on", "domains-TOTAL_FORMS": "0"}
    form.update({"domains-INITIAL_FORMS": "0", "domains-MIN_NUM_FORMS": "0"})
    form["domains-MAX_NUM_FORMS"] = "1000"

    refused = client.post(url, {**form, "cors_allowed_origins": "https://app.acme.example/path"})
    saved = client.post(
        url, {**form, "cors_allowed_origins": "HTTPS://App.Acme.Example/, http://localhost:3000"}
    )

    assert refused.status_code == 200 and b"Enter an origin" in refused.content
    assert saved.status_code == 302, saved.content[:2000]
    acme.tenant.refresh_from_db()
    assert acme.tenant.cors_allowed_origins == [APP, "http://localhost:3000"]
    assert preflight(acme.host, INBOX, "http://localhost:3000")["Access-Control-Allow-Origin"]
