from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook

from connectors.base import PermanentError, Recipient, TransientError
from connectors.registry import build_connector
from connectors.webhook import WebhookConnector, sign

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def webhook(server, path="/hooks/clarion") -> WebhookConnector:
    return build_connector("webhook", {"url": f"{server.url}{path}"}, {"secret": SECRET})


def expected_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The spec's signature, computed here without the connector's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_signing_matches_the_standard_webhooks_test_vector():
    # The vector published with the spec's reference implementations.
    assert (
        sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            '{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_webhook_posts_a_signed_json_document(http_server, message, recipient):
    # given
    http_server.respond(204)
    before = int(time.time())

    # when
    result = webhook(http_server).send(message, recipient, idempotency_key="acme-77")

    # then the document arrived with the Standard Webhooks headers
    [request] = http_server.wait_for(1)
    assert request.url_path == "/hooks/clarion"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-id"] == "acme-77"
    timestamp = request.headers["webhook-timestamp"]
    assert before <= int(timestamp) <= int(time.time())
    assert request.headers["webhook-signature"] == expected_signature(
        SECRET, "acme-77", timestamp, request.body
    )
    # and a receiver using the spec's reference library accepts it
    document = Webhook(SECRET).verify(request.body, dict(request.headers))
    assert document["type"] == "notification.delivery"
    assert document["data"] == {
        "delivery_id": "acme-77",
        "subscriber_id": "user-1",
        "subject": "Your order shipped",
        "body": "<p>Order <b>A-1</b> is on its way.</p>",
        "cta_url": "https://shop.example/orders/A-1",
        "data": {"order_id": "A-1", "items": 2},
    }
    assert result.provider_message_id == "acme-77"
    assert result.response_code == 204


def test_a_tampered_body_fails_verification(http_server, message, recipient):
    http_server.respond(200)
    webhook(http_server).send(message, recipient, idempotency_key="acme-77")
    [request] = http_server.wait_for(1)

    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(request.body.replace(b"A-1", b"A-2"), dict(request.headers))


def test_the_subscriber_webhook_url_overrides_the_integration_url(http_server, message):
    http_server.respond(200)
    recipient = Recipient("u", credentials={"webhook_url": f"{http_server.url}/mine"})

    webhook(http_server, "/shared").send(message, recipient, idempotency_key="k")

    assert http_server.wait_for(1)[0].url_path == "/mine"


def test_webhook_without_any_url_is_permanent(message):
    connector = WebhookConnector({}, {"secret": SECRET})

    with pytest.raises(PermanentError, match="no webhook URL"):
        connector.send(message, Recipient("u"), idempotency_key="k")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (408, TransientError),
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
        (301, PermanentError),
        (400, PermanentError),
        (401, PermanentError),
        (404, PermanentError),
        (410, PermanentError),
    ],
)
def test_webhook_error_classes(http_server, message, recipient, status, error):
    http_server.respond(status, {"error": "x"}, {"Location": "http://elsewhere.example/"})

    with pytest.raises(error) as caught:
        webhook(http_server).send(message, recipient, idempotency_key="k")

    assert caught.value.response_code == status
    assert http_server.url not in str(caught.value)  # URLs can carry secrets


def test_webhook_503_honours_retry_after(http_server, message, recipient):
    http_server.respond(503, headers={"Retry-After": "12"})

    with pytest.raises(TransientError) as caught:
        webhook(http_server).send(message, recipient, idempotency_key="k")

    assert caught.value.retry_after == 12


def test_webhook_timeout_is_transient(http_server, short_timeouts, message, recipient):
    http_server.respond(200, delay=2.0)

    with pytest.raises(TransientError, match="timed out"):
        webhook(http_server).send(message, recipient, idempotency_key="k")


def test_webhook_retries_keep_the_id_and_sign_a_fresh_timestamp(http_server, message, recipient):
    http_server.respond(200)
    connector = webhook(http_server)

    connector.send(message, recipient, idempotency_key="acme-1")
    connector.send(message, recipient, idempotency_key="acme-1")

    first, second = http_server.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "acme-1"
    for request in (first, second):
        Webhook(SECRET).verify(request.body, dict(request.headers))


@pytest.mark.parametrize(
    ("settings", "credentials", "bad"),
    [
        ({}, {}, {"credentials.secret"}),
        ({"url": "not a url"}, {"secret": SECRET}, {"settings.url"}),
        ({"url": "https://x.example"}, {"secret": "whsec_!!!"}, {"credentials.secret"}),
        ({"url": "https://x.example"}, {"secret": "whsec_c2hvcnQ="}, {"credentials.secret"}),
    ],
)
def test_webhook_validate_config_names_every_bad_field(refused_fields, settings, credentials, bad):
    assert refused_fields(WebhookConnector, settings, credentials) == bad


def test_webhook_settings_are_typed_and_keep_the_secret_out_of_reprs():
    connector = WebhookConnector({"url": "https://hooks.example/x"}, {"secret": SECRET})

    assert connector.config.url == "https://hooks.example/x"
    assert SECRET not in repr(connector.config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        connector.config.url = "https://elsewhere.example"
