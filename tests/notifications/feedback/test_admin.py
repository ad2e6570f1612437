"""The webhook endpoints' admin: listed with their attempts, turned on again, never added
(the API shows the secret once)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from notifications.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from tenants.services import tenant_admin_create
from tests.conftest import admin_login

PAGE = "/admin/notifications/webhookendpoint"


@pytest.fixture
def client(acme):
    tenant_admin_create(tenant=acme.tenant, email="ops@acme.test", password="acme-admin-pass-1")
    client = admin_login(acme.host, "ops@acme.test", "acme-admin-pass-1")
    assert client is not None
    return client


def test_the_change_page_shows_attempts_and_turns_an_endpoint_on_again(client, acme):
    with schema_context(acme.schema):
        endpoint = WebhookEndpoint(
            url="https://hooks.example.com/x",
            events=["delivery.sent"],
            active=False,
            disabled_reason="disabled automatically",
        )
        endpoint.secret = "whsec_" + "A" * 43
        endpoint.save()
        message = WebhookMessage.objects.create(
            endpoint=endpoint, event_id=42, event_type="delivery.sent", payload={}
        )
        WebhookAttempt.objects.create(
            endpoint=endpoint, message=message, attempt=1, response_code=503, error="HTTP 503"
        )

    page = client.get(f"{PAGE}/{endpoint.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "msg_42" in html and "HTTP 503" in html
    assert "whsec_" not in html
    assert client.get(f"{PAGE}/add/").status_code == 403

    response = client.post(f"{PAGE}/{endpoint.pk}/change/", {"active": "on"})

    assert response.status_code == 302
    with schema_context(acme.schema):
        endpoint.refresh_from_db()
    assert endpoint.active is True and endpoint.disabled_reason == ""
