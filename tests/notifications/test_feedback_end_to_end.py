"""After sent, end to end: real workers send through the real connectors to fake providers;
the provider's webhook, a tracked click and a suppression then change what happens next."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote, urlsplit

import pytest
from django.test import Client

from notifications.models import Delivery, Integration, Subscriber, Suppression, Workflow
from tests.notifications import feedback_helpers as fb
from tests.notifications.pipeline_helpers import make_workflow, twilio_integration, wait_until

pytestmark = pytest.mark.worker


def trigger(api, event: str, subscriber_id: str, order_id: str) -> Delivery:
    """Trigger the event for one subscriber; its delivery once the worker is done with it."""
    response = api.post(
        "/api/v1/events/trigger",
        {"event": event, "to": [subscriber_id], "payload": {"order_id": order_id}},
    )
    assert response.status_code == 202, response.content
    notification_id = response.json()["notification_id"]

    def done():
        delivery = Delivery.objects.filter(notification_id=notification_id).first()
        if delivery is not None and delivery.status not in ("queued", "sending", "pending"):
            return delivery
        return None

    return wait_until(done, timeout=30, what="the delivery to be sent or skipped")


def postmark_ok(to: str, message_id: str) -> dict:
    return {"To": to, "SubmittedAt": "2026-12-01T00:00:00Z", "MessageID": message_id,
            "ErrorCode": 0, "Message": "OK"}  # fmt: skip


def test_a_bounce_suppresses_the_address_and_a_click_on_the_emailed_link_is_tracked(
    celery_worker, live, live_api, http_server, unique
):
    # given Postmark (a fake of its API) as the one email integration, with a webhook secret
    Integration.objects.filter(channel="email").update(active=False)
    created = live_api.post(
        "/api/v1/integrations",
        {
            "channel": "email",
            "provider": "anymail:postmark",
            "name": f"Postmark {unique}",
            "settings": {
                "from_email": "Wonka <noreply@wonka.example>",
                "api_url": f"{http_server.url}/postmark/",
            },
            "credentials": {"server_token": "pm-token", "webhook_secret": "pm:hook-secret"},
        },
    )
    assert created.status_code == 201, created.content
    assert created.json()["webhook_url"].startswith(f"https://{live.host}/api/v1/integrations/")
    event = make_workflow(
        unique,
        [
            {
                "channel": "email",
                "subject": "Order {{ payload.order_id }}",
                "body": '<p><a href="https://shop.example/orders/{{ payload.order_id }}">'
                "Track your order</a></p>",
            }
        ],
    )
    Workflow.objects.filter(key=f"wf-{unique}").update(track_opens=True)
    ada, bob = f"ada-{unique}", f"bob-{unique}"
    Subscriber.objects.create(subscriber_id=ada, email=f"{ada}@example.com")
    Subscriber.objects.create(subscriber_id=bob, email=f"{bob}@example.com")
    ada_id, bob_id = str(uuid.uuid4()), str(uuid.uuid4())

    # when each gets an email
    http_server.respond(200, postmark_ok(f"{ada}@example.com", ada_id), times=1)
    to_ada = trigger(live_api, event, ada, "A-1")
    http_server.respond(200, postmark_ok(f"{bob}@example.com", bob_id), times=1)
    to_bob = trigger(live_api, event, bob, "B-1")

    # then both were sent, each known by Postmark's message id
    assert (to_ada.status, to_ada.provider_message_id) == ("sent", ada_id)
    assert (to_bob.status, to_bob.provider_message_id) == ("sent", bob_id)
    ada_email = next(
        r.json()
        for r in http_server.requests_to("/postmark/")
        if r.json()["To"] == f"{ada}@example.com"
    )

    # when Postmark reports a hard bounce for Bob's email, signed with the webhook secret
    webhooks = Client(HTTP_HOST=live.host)
    callback = fb.postmark_callback(
        bob_id, auth=fb.basic_auth("pm", "hook-secret"), email=f"{bob}@example.com"
    )
    bounced = webhooks.generic(
        "POST",
        urlsplit(created.json()["webhook_url"]).path,
        callback.body,
        content_type="application/json",
        headers=callback.headers,
    )

    # then Bob's delivery is bounced and his address suppressed
    assert bounced.status_code == 200, bounced.content
    to_bob.refresh_from_db()
    assert to_bob.status == "bounced"
    assert Suppression.objects.filter(channel="email", address=f"{bob}@example.com").exists()

    # when Ada opens the email she received (it loads the open pixel)
    [pixel] = re.findall(r'<img src="([^"]+)"', ada_email["HtmlBody"])
    assert pixel.startswith(f"https://{live.host}/t/o/") and pixel.endswith(".gif")
    opened = webhooks.get(urlsplit(pixel).path)

    # then her delivery is opened
    assert (opened.status_code, opened["Content-Type"]) == (200, "image/gif")
    to_ada.refresh_from_db()
    assert to_ada.status == "opened"

    # when she follows the link in it (HTML and text alike)
    [link] = re.findall(r'href="([^"]+)"', ada_email["HtmlBody"])
    assert link.startswith(f"https://{live.host}/t/c/")
    assert link in ada_email["TextBody"]
    path = urlsplit(link).path
    tampered = webhooks.get(path[:-3] + ("abc" if not path.endswith("abc") else "abd"))
    followed = webhooks.get(path)

    # then a tampered link is a 404, the real one redirects and Ada's delivery is clicked
    assert tampered.status_code == 404 and "Location" not in tampered
    assert followed.status_code == 302
    assert followed["Location"] == "https://shop.example/orders/A-1"
    to_ada.refresh_from_db()
    assert to_ada.status == "clicked"

    # when Bob is sent another email
    sent_before = len(http_server.requests_to("/postmark/"))
    again = trigger(live_api, event, bob, "B-2")

    # then it is skipped, naming the reason, and Postmark is not called
    assert again.status == "skipped"
    assert again.last_error == "the address is suppressed (hard bounce)"
    assert len(http_server.requests_to("/postmark/")) == sent_before


def test_twilio_reports_delivery_to_the_webhook_url_it_was_given(
    celery_worker, live, live_api, http_server, unique
):
    # given Twilio (a fake of its API) and an SMS workflow with a link
    integration = twilio_integration(http_server)
    event = make_workflow(
        unique,
        [{"channel": "sms", "body": "Shipped: https://shop.example/o/{{ payload.order_id }}"}],
    )
    subscriber = f"sms-{unique}"
    Subscriber.objects.create(subscriber_id=subscriber, phone="+14155550123")
    http_server.respond(201, {"sid": f"SM{unique}"})

    # when the SMS is sent
    delivery = trigger(live_api, event, subscriber, "S-1")

    # then Twilio was asked to call back the integration's webhook, and the link is tracked
    assert delivery.status == "sent"
    [request] = http_server.requests_to("/2010-04-01/")
    form = {k: v[0] for k, v in request.form().items()}
    webhook_url = f"https://{live.host}/api/v1/integrations/{integration.pk}/webhook"
    assert form["StatusCallback"] == webhook_url
    assert form["Body"].startswith(f"Shipped: https://{live.host}/t/c/")

    # when Twilio calls back, signed with the auth token, and a forger does too
    params = {"MessageSid": f"SM{unique}", "MessageStatus": "delivered", "AccountSid": "AC123"}
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    client = Client(HTTP_HOST=live.host)
    forged = client.generic(
        "POST",
        urlsplit(webhook_url).path,
        body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": fb.twilio_sign("not-the-token", webhook_url, params)},
        secure=True,
    )
    delivery.refresh_from_db()
    assert (forged.status_code, delivery.status) == (401, "sent")
    signed = client.generic(
        "POST",
        urlsplit(webhook_url).path,
        body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": fb.twilio_sign("token", webhook_url, params)},
        secure=True,
    )

    # then the SMS is delivered
    assert signed.status_code == 200, signed.content
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
