"""GET /api/v1/suppressions (filtered, paginated), DELETE /api/v1/suppressions/{id}, and the
admin list."""

from __future__ import annotations

import pytest

from notifications.models import Suppression
from tenants.services import tenant_admin_create
from tests.conftest import ApiClient, admin_login


@pytest.fixture
def suppressions(in_acme) -> list[Suppression]:
    return [
        Suppression.objects.create(
            channel="email", address="ada@example.com", reason="hard_bounce"
        ),
        Suppression.objects.create(channel="email", address="bob@example.com", reason="complaint"),
        Suppression.objects.create(channel="sms", address="+14155550100", reason="hard_bounce"),
    ]


def test_the_list_filters_by_channel_and_address_and_pages(acme_api, suppressions):
    everything = acme_api.get("/api/v1/suppressions?limit=2").json()
    second = acme_api.get(everything["next"]).json()
    email = acme_api.get("/api/v1/suppressions?channel=email").json()
    ada = acme_api.get("/api/v1/suppressions?channel=email&address=Ada@Example.com").json()

    assert [s["address"] for s in everything["results"] + second["results"]] == [
        "+14155550100",
        "bob@example.com",
        "ada@example.com",
    ]
    assert second["next"] is None
    assert {s["channel"] for s in email["results"]} == {"email"}
    assert ada["results"] == [
        {
            "id": suppressions[0].pk,
            "channel": "email",
            "address": "ada@example.com",
            "reason": "hard_bounce",
            "delivery_id": None,
            "created_at": ada["results"][0]["created_at"],
        }
    ]


def test_bad_filters_are_400(acme_api, suppressions):
    response = acme_api.get("/api/v1/suppressions?channel=fax")

    assert response.status_code == 400
    assert "channel" in response.json()["error"]["fields"]


def test_delete_lifts_a_suppression_and_a_second_delete_is_404(acme_api, suppressions):
    first = acme_api.delete(f"/api/v1/suppressions/{suppressions[1].pk}")
    second = acme_api.delete(f"/api/v1/suppressions/{suppressions[1].pk}")

    assert first.status_code == 204
    assert second.status_code == 404
    assert not Suppression.objects.filter(address="bob@example.com").exists()


def test_suppressions_need_an_api_key_and_stay_in_their_tenant(globex_api, acme, suppressions):
    assert ApiClient(acme.host).get("/api/v1/suppressions").status_code == 401
    assert globex_api.get("/api/v1/suppressions").json()["results"] == []
    assert globex_api.delete(f"/api/v1/suppressions/{suppressions[0].pk}").status_code == 404


def test_the_admin_lists_and_deletes_suppressions(acme, suppressions):
    tenant_admin_create(tenant=acme.tenant, email="ops@acme.example", password="acme-pass-12")
    client = admin_login(acme.host, "ops@acme.example", "acme-pass-12")
    assert client is not None

    listed = client.get("/admin/notifications/suppression/")
    deleted = client.post(
        f"/admin/notifications/suppression/{suppressions[0].pk}/delete/", {"post": "yes"}
    )

    assert listed.status_code == 200
    assert b"ada@example.com" in listed.content
    assert deleted.status_code == 302
    assert not Suppression.objects.filter(pk=suppressions[0].pk).exists()
