"""Push and chat end to end: API → real workers → the real connector code → a fake provider.

FCM is a fake OAuth token endpoint plus a fake FCM HTTP v1 API; Web Push is a fake push
service receiving real VAPID-signed, aes128gcm-encrypted requests; chat is a fake receiver of
Standard Webhooks and a fake Slack incoming webhook.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from google.auth import jwt
from py_vapid import Vapid, Vapid02
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from notifications.models import Delivery, Integration
from tests.notifications.pipeline_helpers import make_workflow, wait_until
from tests.push_clients import ServiceAccount, b64url, browser, fake_fcm, service_account_for

pytestmark = pytest.mark.worker

PROJECT = "clarion-e2e"


def only_integration(api, channel: str, provider: str, settings: dict, credentials=None) -> int:
    """Create, through the API, the one active integration of `channel`."""
    Integration.objects.filter(channel=channel).update(active=False)
    response = api.post(
        "/api/v1/integrations",
        {
            "channel": channel,
            "provider": provider,
            "name": f"E2E {provider}",
            "settings": settings,
            "credentials": credentials or {},
        },
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def subscriber_with(api, subscriber_id: str, provider: str, credentials: dict) -> None:
    """A subscriber, and their channel credentials for one provider, through the API."""
    created = api.post("/api/v1/subscribers", {"subscriber_id": subscriber_id, "first_name": "Ada"})
    assert created.status_code in (200, 201), created.content
    response = api.put(f"/api/v1/subscribers/{subscriber_id}/credentials/{provider}", credentials)
    assert response.status_code == 200, response.content


def send_and_wait(api, event: str, subscriber_id: str, order_id: str) -> Delivery:
    """Trigger the event for one subscriber; the delivery once it is sent."""
    response = api.post(
        "/api/v1/events/trigger",
        {"event": event, "to": [subscriber_id], "payload": {"order_id": order_id}},
    )
    assert response.status_code == 202, response.content
    notification_id = response.json()["notification_id"]

    def sent():
        delivery = Delivery.objects.filter(notification_id=notification_id).first()
        if delivery is not None and delivery.status not in ("queued", "sending", "pending"):
            return delivery
        return None

    delivery = wait_until(sent, timeout=20, what="the delivery to be sent")
    assert delivery.status == "sent", (delivery.status, delivery.last_error)
    return delivery


# --- push ------------------------------------------------------------------------------------


@pytest.fixture
def service_account() -> ServiceAccount:
    """A throwaway Google service account (its JSON key and public key)."""
    return service_account_for(PROJECT)


def test_fcm_push_reaches_every_device_of_the_subscriber(
    celery_worker, live, live_api, http_server, service_account, unique
):
    # given: the fake answers Google's token endpoint and FCM's messages:send
    info, public_pem = service_account.info, service_account.public_pem
    fake_fcm(http_server, project=PROJECT, message_name="e2e-1", token="ya29.e2e")
    only_integration(
        live_api,
        "push",
        "fcm",
        {
            "project_id": PROJECT,
            "base_url": http_server.url,
            "token_url": f"{http_server.url}/token",
        },
        {"service_account_json": json.dumps(info)},
    )
    subscriber_id = f"fcm-{unique}"
    subscriber_with(live_api, subscriber_id, "fcm", {"device_tokens": ["phone-1", "tablet-2"]})
    event = make_workflow(unique, [{"channel": "push"}])

    # when
    delivery = send_and_wait(live_api, event, subscriber_id, "P-1")

    # then: one access token, fetched with a JWT signed by the service account's key
    [token_request] = http_server.requests_to("/token")
    claims = jwt.decode(
        token_request.form()["assertion"][0],
        certs=public_pem,
        audience="https://oauth2.googleapis.com/token",
    )
    assert claims["iss"] == info["client_email"]
    # and the message went to FCM once per device token, with that token
    sends = http_server.requests_to("/v1/")
    assert {r.url_path for r in sends} == {f"/v1/projects/{PROJECT}/messages:send"}
    assert {r.headers["Authorization"] for r in sends} == {"Bearer ya29.e2e"}
    messages = [r.json()["message"] for r in sends]
    assert sorted(m["token"] for m in messages) == ["phone-1", "tablet-2"]
    assert all(
        m["notification"] == {"title": "Hello Ada", "body": "Order P-1 shipped"} for m in messages
    )
    assert len({m["data"]["clarion_delivery"] for m in messages}) == 1
    assert (delivery.provider, delivery.provider_message_id) == (
        "fcm",
        f"projects/{PROJECT}/messages/e2e-1",
    )


def test_web_push_reaches_every_browser_encrypted_and_vapid_signed(
    celery_worker, live, live_api, http_server, unique
):
    # given: a subscriber with two browsers subscribed at the fake push service
    http_server.respond(201, headers={"Location": f"{http_server.url}/messages/e2e"})
    vapid = Vapid()
    vapid.generate_keys()
    only_integration(
        live_api,
        "push",
        "webpush",
        {"vapid_subject": "mailto:ops@clarion.test"},
        {"vapid_private_key": vapid.private_pem().decode()},
    )
    browsers = {name: browser(http_server, name) for name in ("laptop", "desktop")}
    subscriber_id = f"wp-{unique}"
    subscriber_with(
        live_api,
        subscriber_id,
        "webpush",
        {"subscriptions": [b.subscription for b in browsers.values()]},
    )
    event = make_workflow(unique, [{"channel": "push"}])

    # when
    delivery = send_and_wait(live_api, event, subscriber_id, "W-1")

    # then: each browser's push service got a payload only that browser can decrypt
    requests = {r.url_path: r for r in http_server.requests}
    assert set(requests) == {"/push/laptop", "/push/desktop"}
    for name, device in browsers.items():
        request = requests[f"/push/{name}"]
        assert request.headers["Content-Encoding"] == "aes128gcm"
        payload = device.decrypt(request.body)
        assert (payload["title"], payload["body"]) == ("Hello Ada", "Order W-1 shipped")
        # signed with our VAPID key, for this push service, from our subject
        authorization = request.headers["Authorization"]
        assert Vapid02.verify(authorization)
        token = authorization.split("t=")[1].split(",")[0]
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert (claims["aud"], claims["sub"]) == (http_server.url, "mailto:ops@clarion.test")
        assert (
            b64url(
                vapid.public_key.public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
                )
            )
            in authorization
        )
    assert delivery.provider == "webpush"
    assert delivery.provider_message_id == f"{http_server.url}/messages/e2e"


# --- chat ------------------------------------------------------------------------------------


def test_webhook_chat_is_posted_signed_per_standard_webhooks(
    celery_worker, live, live_api, http_server, unique
):
    # given
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    http_server.respond(204)
    only_integration(
        live_api, "chat", "webhook", {"url": f"{http_server.url}/hooks/clarion"}, {"secret": secret}
    )
    subscriber_id = f"wh-{unique}"
    live_api.post("/api/v1/subscribers", {"subscriber_id": subscriber_id, "first_name": "Ada"})
    event = make_workflow(unique, [{"channel": "chat"}])

    # when
    delivery = send_and_wait(live_api, event, subscriber_id, "H-1")

    # then: the receiver can verify the signature with the shared secret
    [request] = http_server.requests
    assert request.url_path == "/hooks/clarion"
    document = Webhook(secret).verify(request.body, dict(request.headers))
    assert document["type"] == "notification.delivery"
    assert document["data"]["subscriber_id"] == subscriber_id
    assert (document["data"]["subject"], document["data"]["body"]) == (
        "Hello Ada",
        "Order H-1 shipped",
    )
    assert document["data"]["delivery_id"] == request.headers["webhook-id"]
    # and a tampered body would not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"H-1", b"H-2"), dict(request.headers))
    assert delivery.provider == "webhook"


def test_slack_chat_goes_to_the_subscribers_own_incoming_webhook(
    celery_worker, live, live_api, http_server, unique
):
    # given: a Slack integration without a URL of its own; the subscriber brings theirs
    http_server.respond(200, body="ok")
    only_integration(live_api, "chat", "slack", {})
    subscriber_id = f"sl-{unique}"
    hook_path = f"/services/T0/B0/{unique}"
    subscriber_with(live_api, subscriber_id, "slack", {"webhook_url": http_server.url + hook_path})
    event = make_workflow(unique, [{"channel": "chat"}])

    # when
    delivery = send_and_wait(live_api, event, subscriber_id, "S-1")

    # then
    [request] = http_server.requests
    assert request.url_path == hook_path
    assert request.json() == {"text": "*Hello Ada*\nOrder S-1 shipped"}
    assert delivery.provider == "slack"
