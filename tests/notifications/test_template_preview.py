"""Template preview: what a send would render, sending and writing nothing."""

import json

import pytest
from django.db import connection
from django.utils.html import escape
from django_tenants.utils import schema_context

from notifications.models import Delivery, Notification, Subscriber, Template
from tests.notifications.pipeline_helpers import smtp_integration, statuses, wait_until
from tests.notifications.test_admin import ADMIN, client  # noqa: F401

EMAIL = {
    "channel": "email",
    "subject": "Order {{ payload.order_id }} for {{ subscriber.first_name }}",
    "body": "<h1>Hi {{ subscriber.first_name }}</h1><p>Order {{ payload.order_id }}: "
    "{{ payload.note }}</p><ul>{% for item in payload.lines %}<li>{{ item }}</li>"
    "{% endfor %}</ul><p><a href=\"https://shop.example/o/{{ payload.order_id }}\">Track"
    "</a></p>",
    "variants": [
        {"name": "short", "weight": 1, "subject": "Shipped: {{ payload.order_id }}",
         "body": "<p>{{ payload.order_id }} is on its way, {{ subscriber.first_name }}. "
                 "{{ payload.note }}</p>"},
        {"name": "long", "weight": 1,
         "body": "<p>Long {{ payload.order_id }}: {{ payload.note }}</p><ul>"
         "{% for item in payload.lines %}<li>{{ item }}</li>{% endfor %}</ul>"},
    ],
}  # fmt: skip
PAYLOAD = {"order_id": "A-1", "note": "Fish & <chips>", "lines": ["tea", "scones"]}


def _part(message, subtype: str) -> str:
    """A part's content as rendered: SMTP carries lines ending in CRLF, and a final one."""
    return message.get_body((subtype,)).get_content().replace("\r\n", "\n").rstrip("\n")


def _email_setup(api, key):
    assert api.post("/api/v1/templates", {"key": key, **EMAIL}).status_code == 201
    workflow = {"key": key, "name": key, "steps": [{"type": "send", "channel": "email",
                "template": key}]}  # fmt: skip
    assert api.post("/api/v1/workflows", workflow).status_code == 201
    assert api.post("/api/v1/routes", {"event": f"{key}.go", "workflow": key}).status_code == 201


@pytest.mark.worker
def test_the_preview_is_what_the_smtp_server_receives(
    celery_worker, live, live_api, smtp_server, unique
):
    # given an email template with A/B variants, and a subscriber
    smtp_integration(smtp_server)
    key = f"preview-{unique}"
    _email_setup(live_api, key)
    subscriber = {"subscriber_id": f"ada-{unique}", "email": f"ada-{unique}@example.com",
                  "first_name": "Ada"}  # fmt: skip
    assert live_api.post("/api/v1/subscribers", subscriber).status_code in (200, 201)

    # when it is previewed for that subscriber, then sent to them
    preview = live_api.post(
        f"/api/v1/templates/{key}/preview",
        {"payload": PAYLOAD, "subscriber_id": subscriber["subscriber_id"]},
    )
    assert preview.status_code == 200, preview.content
    sent = live_api.post(
        "/api/v1/events/trigger",
        {"event": f"{key}.go", "to": [subscriber["subscriber_id"]], "payload": PAYLOAD},
    )
    assert sent.status_code == 202, sent.content
    notification_id = sent.json()["notification_id"]
    wait_until(lambda: statuses(notification_id).get("sent") == 1, what="the email")
    message = smtp_server.wait_for(1, timeout=10)[0]

    # then subject, HTML and text parts are the preview's, and so is the variant
    shown = preview.json()
    assert shown["subject"] == message["Subject"]
    assert shown["html"] == _part(message, "html")
    assert shown["text"] == _part(message, "plain")
    assert shown["body"] == shown["html"]
    assert "Fish &amp; &lt;chips&gt;" in shown["html"]
    assert Delivery.objects.get(notification_id=notification_id).variant == shown["variant"]


def test_a_chosen_variant_and_locale_are_rendered(acme, acme_api):
    assert acme_api.post("/api/v1/templates", {"key": "order", **EMAIL}).status_code == 201
    french = {"key": "order", "locale": "fr", "channel": "email",
              "subject": "Commande {{ payload.order_id }}", "body": "<p>Bonjour</p>"}  # fmt: skip
    assert acme_api.post("/api/v1/templates", french).status_code == 201
    subscriber = {"subscriber": {"subscriber_id": "bob", "first_name": "Bob"}}

    short = acme_api.post(
        "/api/v1/templates/order/preview", {"payload": PAYLOAD, "variant": "short", **subscriber}
    ).json()
    control = acme_api.post(
        "/api/v1/templates/order/preview", {"payload": PAYLOAD, "variant": "control"}
    ).json()
    long = acme_api.post(
        "/api/v1/templates/order/preview", {"payload": PAYLOAD, "variant": "long", **subscriber}
    ).json()
    fr = acme_api.post(
        "/api/v1/templates/order/preview", {"payload": PAYLOAD, "locale": "fr-CA"}
    ).json()

    assert (short["subject"], short["variant"]) == ("Shipped: A-1", "short")
    assert short["text"] == "A-1 is on its way, Bob. Fish & <chips>"
    assert control["subject"] == "Order A-1 for"
    # A variant without its own subject uses the template's.
    assert long["subject"] == "Order A-1 for Bob"
    assert "- tea\n- scones" in long["text"]
    assert (fr["subject"], fr["locale"]) == ("Commande A-1", "fr")


def test_a_preview_sends_and_writes_nothing(acme, acme_api):
    assert acme_api.post("/api/v1/templates", {"key": "order", **EMAIL}).status_code == 201

    response = acme_api.post(
        "/api/v1/templates/order/preview",
        {"payload": PAYLOAD, "subscriber": {"subscriber_id": "new-one", "first_name": "N"},
         "actor": {"subscriber_id": "new-actor"}},
    )  # fmt: skip

    assert response.status_code == 200, response.content
    with schema_context(acme.schema):
        assert not Subscriber.objects.exists()
        assert not Notification.objects.exists()
    connection.set_schema_to_public()


def test_an_sms_preview_has_a_body_and_no_html(acme, acme_api):
    body = {"key": "code", "channel": "sms", "body": "Code {{ payload.code }} & more"}
    assert acme_api.post("/api/v1/templates", body).status_code == 201

    shown = acme_api.post("/api/v1/templates/code/preview", {"payload": {"code": 42}}).json()

    assert shown["body"] == "Code 42 & more"
    assert "html" not in shown and "text" not in shown


def test_a_render_error_is_a_400_naming_it(acme, acme_api):
    body = {"key": "ratio", "channel": "sms", "body": "Share {{ 100 // payload.count }}%"}
    assert acme_api.post("/api/v1/templates", body).status_code == 201

    response = acme_api.post("/api/v1/templates/ratio/preview", {"payload": {"count": 0}})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "render_error"
    assert "Template 'ratio' (body, line 1)" in error["message"]
    assert "ZeroDivisionError" in error["message"]


def test_bad_previews_are_400_or_404(acme, acme_api):
    assert acme_api.post("/api/v1/templates", {"key": "order", **EMAIL}).status_code == 201

    def preview(key="order", **body):
        return acme_api.post(f"/api/v1/templates/{key}/preview", body)

    assert preview(key="nope").status_code == 404
    assert "variant" in preview(variant="zzz").json()["error"]["fields"]
    assert "subscriber_id" in preview(subscriber_id="ghost").json()["error"]["fields"]
    assert "actor" in preview(actor="ghost").json()["error"]["fields"]
    both = preview(subscriber_id="a", subscriber={"subscriber_id": "a"})
    assert "subscriber" in both.json()["error"]["fields"]
    assert "payload" in preview(payload=[1]).json()["error"]["fields"]
    assert "email" in str(preview(subscriber={"subscriber_id": "a", "email": "x"}).json())
    assert "surprise" in preview(surprise=1).json()["error"]["fields"]


def test_the_admin_previews_a_template_in_a_sandboxed_frame(client, acme, acme_api):  # noqa: F811
    assert acme_api.post("/api/v1/templates", {"key": "order", **EMAIL}).status_code == 201
    assert acme_api.post(
        "/api/v1/subscribers", {"subscriber_id": "ada", "first_name": "Ada"}
    ).status_code in (200, 201)
    with schema_context(acme.schema):
        template = Template.objects.get(key="order")
    connection.set_schema_to_public()
    url = f"{ADMIN}/template/{template.pk}/preview/"

    change_page = client.get(f"{ADMIN}/template/{template.pk}/change/")
    form = client.get(url)
    shown = client.post(
        url, {"subscriber_id": "ada", "variant": "short", "payload": json.dumps(PAYLOAD)}
    )
    api = acme_api.post(
        "/api/v1/templates/order/preview",
        {"subscriber_id": "ada", "variant": "short", "payload": PAYLOAD},
    ).json()
    broken = client.post(url, {"variant": "control", "payload": "[1, 2]"})
    unknown = client.post(url, {"subscriber_id": "ghost", "payload": "{}"})

    assert url in change_page.content.decode()
    assert form.status_code == 200
    page = shown.content.decode()
    assert f'<span id="preview-subject">{api["subject"]}</span>' in page
    assert f'sandbox="" srcdoc="{escape(api["html"])}"' in page
    assert f'<pre id="preview-text">{escape(api["text"])}</pre>' in page
    assert "Give a JSON object." in broken.content.decode()
    assert "No subscriber &#x27;ghost&#x27;." in unknown.content.decode()
