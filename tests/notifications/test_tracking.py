"""Click and open tracking: links rewritten to signed /t/ URLs, redirects, the open pixel."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from connectors.base import RenderedMessage
from notifications.models import DeliveryEvent, Integration
from notifications.rendering.tracking import (
    LinkTracker,
    click_token,
    click_token_read,
    open_token,
    open_token_read,
)
from tests.notifications import feedback_helpers as fb

BASE = "https://acme.localhost"


def tracker(**kwargs) -> LinkTracker:
    return LinkTracker(base_url=BASE, schema="acme", delivery_id=42, **kwargs)


def test_html_and_text_links_are_rewritten_to_tokens_that_read_back():
    message = RenderedMessage(
        subject="Shipped",
        body='<p><a href="https://shop.example/orders/A-1?x=1&amp;y=2">Track</a> '
        '<a href="mailto:help@shop.example">Help</a></p>',
        text_body="Track: https://shop.example/orders/A-1?x=1&y=2. Thanks!",
        cta_url="",
    )

    tracked = tracker().apply(message, email=True)

    [href] = [part.split('"')[0] for part in tracked.body.split('href="')[1:2]]
    assert href.startswith(f"{BASE}/t/c/")
    assert 'href="mailto:help@shop.example"' in tracked.body
    token = urlsplit(href).path.removeprefix("/t/c/")
    assert click_token_read(token, schema="acme") == (42, "https://shop.example/orders/A-1?x=1&y=2")
    # the text part's same link gets the same token; the sentence's full stop stays outside
    assert tracked.text_body == f"Track: {href}. Thanks!"


def test_sms_push_and_in_app_links_and_cta_urls_are_rewritten():
    message = RenderedMessage(
        body="Your code is ready: https://app.example/c/1",
        text_body="Your code is ready: https://app.example/c/1",
        cta_url="https://app.example/inbox",
    )

    tracked = tracker().apply(message, email=False)

    assert tracked.body.startswith(f"Your code is ready: {BASE}/t/c/")
    assert tracked.text_body == tracked.body
    assert tracked.cta_url.startswith(f"{BASE}/t/c/")
    token = tracked.cta_url.removeprefix(f"{BASE}/t/c/")
    assert click_token_read(token, schema="acme") == (42, "https://app.example/inbox")


def test_without_click_tracking_only_the_open_pixel_is_added():
    message = RenderedMessage(body='<html><body><a href="https://x.example/">x</a></body></html>')

    tracked = tracker(clicks=False, opens=True).apply(message, email=True)

    assert 'href="https://x.example/"' in tracked.body
    pixel = tracked.body.split('<img src="')[1].split('"')[0]
    assert tracked.body.endswith("</body></html>")
    token = pixel.removeprefix(f"{BASE}/t/o/").removesuffix(".gif")
    assert open_token_read(token, schema="acme") == 42


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature altered
        lambda t: "x" + t,  # payload altered
        lambda t: t.rsplit(":", 1)[0],  # signature dropped
        lambda t: "",
    ],
)
def test_altered_tokens_and_tokens_of_another_tenant_are_refused(mangle):
    token = click_token(schema="acme", delivery_id=7, url="https://shop.example/")

    assert click_token_read(mangle(token), schema="acme") is None
    assert click_token_read(token, schema="globex") is None
    assert open_token_read(open_token(schema="acme", delivery_id=7), schema="globex") is None
    assert open_token_read(token, schema="acme") is None


@pytest.fixture
def sent_email(in_acme):
    integration = Integration.objects.create(
        channel="email",
        provider="anymail:postmark",
        name="Postmark",
        settings={"from_email": "noreply@acme.example"},
    )
    return fb.sent_delivery(integration, "pm-1")


def test_a_tracked_link_redirects_and_marks_the_delivery_clicked(acme, sent_email):
    client = Client(HTTP_HOST=acme.host)
    token = click_token(
        schema=acme.schema, delivery_id=sent_email.pk, url="https://shop.example/A-1"
    )

    first = client.get(f"/t/c/{token}")
    again = client.get(f"/t/c/{token}")

    assert (first.status_code, first["Location"]) == (302, "https://shop.example/A-1")
    assert again.status_code == 302
    sent_email.refresh_from_db()
    assert sent_email.status == "clicked"
    assert DeliveryEvent.objects.filter(delivery=sent_email).count() == 1


def test_a_forged_link_is_404_and_never_redirects(acme, globex, sent_email):
    token = click_token(schema=acme.schema, delivery_id=sent_email.pk, url="https://evil.example/")
    forged = click_token(
        schema=globex.schema, delivery_id=sent_email.pk, url="https://evil.example/"
    )
    client = Client(HTTP_HOST=acme.host)

    responses = [
        client.get(f"/t/c/{token[:-2]}xx"),
        client.get(f"/t/c/{forged}"),
        Client(HTTP_HOST=globex.host).get(f"/t/c/{token}"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert all("Location" not in r for r in responses)
    assert responses[0].json()["error"]["code"] == "not_found"
    with schema_context(acme.schema):
        sent_email.refresh_from_db()
    assert sent_email.status == "sent"


def test_the_open_pixel_is_a_gif_and_marks_the_delivery_opened(acme, sent_email):
    client = Client(HTTP_HOST=acme.host)
    token = open_token(schema=acme.schema, delivery_id=sent_email.pk)

    response = client.get(f"/t/o/{token}.gif")
    forged = client.get(f"/t/o/{token}x.gif")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert "no-cache" in response["Cache-Control"]
    assert forged.status_code == 404
    sent_email.refresh_from_db()
    assert sent_email.status == "opened"


def test_workflows_track_clicks_by_default_and_opens_when_asked(acme_api):
    template = {"key": "t", "channel": "email", "subject": "Hi", "body": "<p>Hi</p>"}
    assert acme_api.post("/api/v1/templates", template).status_code == 201
    body = {
        "key": "tracked",
        "name": "Tracked",
        "steps": [{"type": "send", "channel": "email", "template": "t"}],
    }

    default = acme_api.post("/api/v1/workflows", body)
    changed = acme_api.put(
        "/api/v1/workflows/tracked", {**body, "track_clicks": False, "track_opens": True}
    )
    invalid = acme_api.put("/api/v1/workflows/tracked", {**body, "track_opens": "sometimes"})

    assert default.status_code == 201, default.json()
    assert (default.json()["track_clicks"], default.json()["track_opens"]) == (True, False)
    assert (changed.json()["track_clicks"], changed.json()["track_opens"]) == (False, True)
    assert invalid.status_code == 400 and "track_opens" in invalid.json()["error"]["fields"]
