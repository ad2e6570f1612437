"""The webhook endpoints API: CRUD, the secret shown once and stored encrypted, validation."""

from __future__ import annotations

import pytest

from notifications.models import WebhookEndpoint

BODY = {"url": "https://hooks.example.com/clarion", "events": ["delivery.sent", "delivery.dead"]}


def test_create_returns_the_secret_once_and_stores_it_encrypted(acme_api, in_acme):
    created = acme_api.post("/api/v1/webhook-endpoints", BODY)

    assert created.status_code == 201, created.content
    body = created.json()
    secret = body.pop("secret")
    assert secret.startswith("whsec_")
    assert body["url"] == BODY["url"] and body["active"] is True
    assert body["events"] == ["delivery.dead", "delivery.sent"]
    stored = WebhookEndpoint.objects.get(pk=body["id"])
    assert secret not in stored.secret_encrypted and stored.secret == secret
    shown = acme_api.get(f"/api/v1/webhook-endpoints/{body['id']}").json()
    assert "secret" not in shown and shown["url"] == BODY["url"]
    listed = acme_api.get("/api/v1/webhook-endpoints").json()
    assert [e["id"] for e in listed["results"]] == [body["id"]] and listed["next"] is None
    assert all("secret" not in e for e in listed["results"])


def test_patch_and_delete(acme_api, in_acme):
    endpoint_id = acme_api.post("/api/v1/webhook-endpoints", BODY).json()["id"]

    patched = acme_api.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}",
        {"events": ["delivery.bounced"], "active": False},
    )

    assert patched.status_code == 200
    assert patched.json()["events"] == ["delivery.bounced"]
    assert patched.json()["active"] is False
    assert acme_api.delete(f"/api/v1/webhook-endpoints/{endpoint_id}").status_code == 204
    assert acme_api.get(f"/api/v1/webhook-endpoints/{endpoint_id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "url": "ftp://example.com/x"}, "url"),
        ({**BODY, "events": []}, "events"),
        ({**BODY, "events": ["delivery.exploded"]}, "events.0"),
        ({"events": BODY["events"]}, "url"),
        ({**BODY, "secret": "whsec_x"}, "secret"),
    ],
)
def test_invalid_bodies_are_400_and_create_nothing(acme_api, in_acme, body, field):
    response = acme_api.post("/api/v1/webhook-endpoints", body)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_a_private_destination_is_refused(acme_api, in_acme, settings):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = False
    response = acme_api.post("/api/v1/webhook-endpoints", {**BODY, "url": "http://127.0.0.1:9/x"})

    assert response.status_code == 400
    assert "not allowed" in response.json()["error"]["fields"]["url"][0].lower()


def test_another_tenants_endpoint_is_404(acme_api, globex_api, in_acme):
    endpoint_id = acme_api.post("/api/v1/webhook-endpoints", BODY).json()["id"]

    assert globex_api.get(f"/api/v1/webhook-endpoints/{endpoint_id}").status_code == 404
    assert globex_api.get(f"/api/v1/webhook-endpoints/{endpoint_id}/attempts").status_code == 404
    assert globex_api.delete(f"/api/v1/webhook-endpoints/{endpoint_id}").status_code == 404


def test_at_most_fifty_endpoints(acme_api, in_acme):
    WebhookEndpoint.objects.bulk_create(
        WebhookEndpoint(url=BODY["url"], events=BODY["events"], secret_encrypted="x")
        for _ in range(50)
    )

    response = acme_api.post("/api/v1/webhook-endpoints", BODY)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_many_endpoints"
    assert WebhookEndpoint.objects.count() == 50
