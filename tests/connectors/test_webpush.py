from __future__ import annotations

import base64
import json

import pytest
from py_vapid import Vapid, Vapid02

from connectors.base import PermanentError, Recipient, TransientError
from connectors.registry import build_connector
from connectors.webpush import WebPushConnector
from tests.push_clients import Browser, b64url, browser


@pytest.fixture
def vapid() -> Vapid:
    key = Vapid()
    key.generate_keys()
    return key


def webpush_connector(vapid, **settings) -> WebPushConnector:
    config = {"vapid_subject": "mailto:ops@acme.example", **settings}
    return build_connector("webpush", config, {"vapid_private_key": vapid.private_pem().decode()})


def subscribed(*browsers: Browser) -> Recipient:
    return Recipient("user-1", credentials={"subscriptions": [b.subscription for b in browsers]})


@pytest.fixture
def subscriber(http_server) -> Recipient:
    """A subscriber with one browser, subscribed at the fake push service."""
    return subscribed(browser(http_server))


def test_webpush_sends_an_encrypted_payload_with_vapid(http_server, vapid, message):
    # given
    http_server.respond(201, headers={"Location": f"{http_server.url}/msg/1"})
    device = browser(http_server)

    # when
    result = webpush_connector(vapid, ttl=600, urgency="high").send(
        message, subscribed(device), idempotency_key="acme-9"
    )

    # then the browser can decrypt what the push service received
    [request] = http_server.wait_for(1)
    assert request.url_path == "/push/sub-1"
    assert request.headers["Content-Encoding"] == "aes128gcm"
    assert request.headers["TTL"] == "600"
    assert request.headers["Urgency"] == "high"
    assert device.decrypt(request.body) == {
        "title": "Your order shipped",
        "body": message.body,
        "url": "https://shop.example/orders/A-1",
        "data": {"order_id": "A-1", "items": 2},
        "delivery_id": "acme-9",
    }
    # and the VAPID signature verifies, for this push service, from our subject
    authorization = request.headers["Authorization"]
    assert Vapid02.verify(authorization)
    token = authorization.split("t=")[1].split(",")[0]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["aud"] == http_server.url
    assert claims["sub"] == "mailto:ops@acme.example"
    assert result.provider_message_id == f"{http_server.url}/msg/1"


def test_webpush_default_ttl(http_server, vapid, message, subscriber):
    http_server.respond(201)

    webpush_connector(vapid).send(message, subscriber, idempotency_key="k")

    assert http_server.wait_for(1)[0].headers["TTL"] == "86400"


def test_webpush_skips_a_gone_subscription(http_server, vapid, message):
    http_server.respond(410, times=1)
    http_server.respond(201)

    result = webpush_connector(vapid).send(
        message,
        subscribed(browser(http_server, "gone"), browser(http_server, "live")),
        idempotency_key="k",
    )

    assert [r.url_path for r in http_server.requests] == ["/push/gone", "/push/live"]
    assert result.provider_message_id == "k"


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_webpush_all_subscriptions_gone_is_permanent(http_server, vapid, message, status):
    http_server.respond(status)

    with pytest.raises(PermanentError, match="all 2"):
        webpush_connector(vapid).send(
            message,
            subscribed(browser(http_server, "a"), browser(http_server, "b")),
            idempotency_key="k",
        )


@pytest.mark.parametrize(("status", "retry_after"), [(429, "15"), (500, None), (503, None)])
def test_webpush_429_and_5xx_are_transient(
    http_server, vapid, message, subscriber, status, retry_after
):
    http_server.respond(status, headers={"Retry-After": retry_after} if retry_after else {})

    with pytest.raises(TransientError) as caught:
        webpush_connector(vapid).send(message, subscriber, idempotency_key="k")

    assert caught.value.response_code == status
    assert caught.value.retry_after == (float(retry_after) if retry_after else None)


@pytest.mark.parametrize("status", [401, 413])
def test_webpush_vapid_or_size_refusal_is_permanent(
    http_server, vapid, message, subscriber, status
):
    http_server.respond(status)

    with pytest.raises(PermanentError) as caught:
        webpush_connector(vapid).send(message, subscriber, idempotency_key="k")

    assert caught.value.response_code == status


def test_webpush_timeout_is_transient(http_server, short_timeouts, vapid, message, subscriber):
    http_server.respond(201, delay=2.0)

    with pytest.raises(TransientError, match="timed out"):
        webpush_connector(vapid).send(message, subscriber, idempotency_key="k")


def test_webpush_malformed_subscription_keys_count_as_gone(http_server, vapid, message):
    recipient = Recipient(
        "u",
        credentials={
            "subscriptions": [
                {"endpoint": f"{http_server.url}/push/x", "keys": {"p256dh": "AAAA", "auth": "x"}}
            ]
        },
    )

    with pytest.raises(PermanentError):
        webpush_connector(vapid).send(message, recipient, idempotency_key="k")

    assert http_server.requests == []


def test_webpush_without_subscriptions_is_permanent(vapid, message):
    with pytest.raises(PermanentError, match="no push subscriptions"):
        webpush_connector(vapid).send(message, Recipient("u"), idempotency_key="k")


def test_webpush_accepts_a_raw_base64url_private_key(http_server, vapid, message, subscriber):
    http_server.respond(201)
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    connector = build_connector(
        "webpush", {"vapid_subject": "https://acme.example"}, {"vapid_private_key": b64url(raw)}
    )

    connector.send(message, subscriber, idempotency_key="k")

    assert Vapid02.verify(http_server.wait_for(1)[0].headers["Authorization"])


@pytest.mark.parametrize(
    ("settings", "credentials", "bad"),
    [
        ({}, {}, {"settings.vapid_subject", "credentials.vapid_private_key"}),
        (
            {"vapid_subject": "ops@acme.example", "ttl": -1, "urgency": "asap"},
            {"vapid_private_key": "not a key"},
            {
                "settings.vapid_subject",
                "settings.ttl",
                "settings.urgency",
                "credentials.vapid_private_key",
            },
        ),
        (
            {"vapid_subject": "http://acme.example", "ttl": "60"},
            {"vapid_private_key": "/etc/passwd"},
            {"settings.vapid_subject", "settings.ttl", "credentials.vapid_private_key"},
        ),
    ],
)
def test_webpush_validate_config_names_every_bad_field(refused_fields, settings, credentials, bad):
    assert refused_fields(WebPushConnector, settings, credentials) == bad


def test_webpush_settings_are_typed_with_defaults(vapid):
    connector = webpush_connector(vapid)

    assert (connector.config.ttl, connector.config.urgency) == (86400, "")
    assert "PRIVATE KEY" not in repr(connector.config)
    assert webpush_connector(vapid, ttl=0, urgency="high").config.ttl == 0
