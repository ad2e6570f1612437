"""The outbound-destination guard on save: integrations and subscriber credentials that point
at a private, loopback or link-local address are a 400 naming the field, and nothing is stored.

Integrations are inactive and nothing is sent: these refusals happen before any connection.
"""

from __future__ import annotations

import base64

import pytest
from django_tenants.utils import schema_context

from notifications.models import Integration, Subscriber

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture
def refuse_private(settings):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = False
    return settings


def integration(channel, provider, settings, credentials=None):
    return {
        "channel": channel,
        "provider": provider,
        "name": f"{provider} account",
        "settings": settings,
        "credentials": credentials or {},
        "active": False,
        "primary": False,
    }


SMTP = {"port": 25, "from_email": "no-reply@acme.example"}
TWILIO = {"account_sid": "AC123", "from_number": "+14155550100"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (integration("email", "smtp", {**SMTP, "host": "10.0.0.1", "port": 6379}), "settings.host"),
        (
            integration("email", "smtp", {**SMTP, "host": "169.254.169.254", "port": 80}),
            "settings.host",
        ),
        (integration("email", "smtp", {**SMTP, "host": "localhost"}), "settings.host"),
        (integration("email", "smtp", {**SMTP, "host": "[::1]"}), "settings.host"),
        (
            integration(
                "email",
                "anymail:postal",
                {"from_email": "no-reply@acme.example", "api_url": "http://10.0.0.1/api/"},
                {"api_key": "k"},
            ),
            "settings.api_url",
        ),
        (
            integration(
                "email",
                "anymail:postmark",
                {"from_email": "no-reply@acme.example", "api_url": "http://169.254.169.254/"},
                {"server_token": "t"},
            ),
            "settings.api_url",
        ),
        (
            integration(
                "chat", "webhook", {"url": "http://10.0.0.1:8080/h"}, {"secret": WEBHOOK_SECRET}
            ),
            "settings.url",
        ),
        (integration("chat", "slack", {"url": "http://169.254.169.254/latest"}), "settings.url"),
        (
            integration(
                "sms", "twilio", {**TWILIO, "base_url": "http://10.0.0.1"}, {"auth_token": "t"}
            ),
            "settings.base_url",
        ),
    ],
)
def test_integrations_pointing_inwards_are_refused_on_save(
    refuse_private, acme_api, acme, body, field
):
    response = acme_api.post("/api/v1/integrations", body)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert "private" in error["fields"][field][0]
    with schema_context(acme.schema):
        assert not Integration.objects.exists()


def test_an_update_pointing_inwards_is_refused_and_keeps_the_integration(
    refuse_private, acme_api, acme
):
    created = acme_api.post(
        "/api/v1/integrations", integration("email", "smtp", {**SMTP, "host": "93.184.215.14"})
    )
    assert created.status_code == 201, created.content

    response = acme_api.patch(
        f"/api/v1/integrations/{created.json()['id']}",
        {"settings": {**SMTP, "host": "169.254.169.254", "port": 80}},
    )

    assert response.status_code == 400
    assert "settings.host" in response.json()["error"]["fields"]
    with schema_context(acme.schema):
        assert Integration.objects.get().settings["host"] == "93.184.215.14"


def test_private_destinations_are_accepted_when_allowed(settings, acme_api):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = True

    response = acme_api.post(
        "/api/v1/integrations", integration("email", "smtp", {**SMTP, "host": "10.0.0.1"})
    )

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("provider", "credentials", "field"),
    [
        ("slack", {"webhook_url": "http://169.254.169.254/latest"}, "webhook_url"),
        ("webhook", {"webhook_url": "http://10.0.0.1:6379/"}, "webhook_url"),
        ("webhook", {"webhook_url": "http://localhost/hook"}, "webhook_url"),
        (
            "webpush",
            {
                "subscriptions": [
                    {
                        "endpoint": "https://93.184.215.14/push/1",
                        "keys": {"p256dh": "p", "auth": "a"},
                    },
                    {"endpoint": "http://10.0.0.1/push/2", "keys": {"p256dh": "p", "auth": "a"}},
                ]
            },
            "subscriptions.1.endpoint",
        ),
    ],
)
def test_subscriber_credentials_pointing_inwards_are_refused(
    refuse_private, acme_api, acme, provider, credentials, field
):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})

    response = acme_api.put(f"/api/v1/subscribers/u1/credentials/{provider}", credentials)

    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]
    with schema_context(acme.schema):
        assert Subscriber.objects.get(subscriber_id="u1").credentials == {}


def test_public_subscriber_credentials_are_stored(refuse_private, acme_api, acme):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})

    response = acme_api.put(
        "/api/v1/subscribers/u1/credentials/webhook", {"webhook_url": "https://93.184.215.14/h"}
    )

    assert response.status_code == 200, response.content
