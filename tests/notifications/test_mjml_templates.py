"""MJML email templates: compiled on save, sent as responsive HTML with a text part, and
never able to include a file or a URL."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from notifications.models import Template
from tests.notifications.pipeline_helpers import smtp_integration, statuses, wait_until
from tests.notifications.test_admin import ADMIN, client, form_errors, template_data  # noqa: F401

MJML_BODY = (
    "<mjml><mj-body><mj-section><mj-column>"
    '<mj-text font-size="20px">Hi {{ subscriber.first_name }}</mj-text>'
    "<mj-text>Order {{ payload.order_id }}: {{ payload.note }}</mj-text>"
    "{% for line in payload.lines %}<mj-text>- {{ line }}</mj-text>{% endfor %}"
    '<mj-button href="https://shop.example/o/{{ payload.order_id }}">Track it</mj-button>'
    "</mj-column></mj-section></mj-body></mjml>"
)
PAYLOAD = {"order_id": "A-1", "note": 'Fish & <chips> "fresh"', "lines": ["tea", "scones"]}


def mjml_template(key="shipped", body=MJML_BODY, **overrides):
    return {"key": key, "channel": "email", "format": "mjml",
            "subject": "Order {{ payload.order_id }}", "body": body, **overrides}  # fmt: skip


def _part(message, subtype: str) -> str:
    return message.get_body((subtype,)).get_content().replace("\r\n", "\n")


@pytest.mark.worker
def test_an_mjml_email_arrives_as_responsive_html_with_a_text_part(
    celery_worker, live, live_api, smtp_server, unique
):
    # given an MJML template, saved through the API, in a workflow
    smtp_integration(smtp_server)
    key = f"mjml-{unique}"
    created = live_api.post("/api/v1/templates", mjml_template(key))
    assert created.status_code == 201, created.content
    assert created.json()["format"] == "mjml"
    # Links untracked, so the HTML shows the template's own href.
    workflow = {"key": key, "name": key, "track_clicks": False,
                "steps": [{"type": "send", "channel": "email", "template": key}]}  # fmt: skip
    assert live_api.post("/api/v1/workflows", workflow).status_code == 201
    assert (
        live_api.post("/api/v1/routes", {"event": f"{key}.go", "workflow": key}).status_code == 201
    )

    # when it is sent
    to = {"subscriber_id": f"ada-{unique}", "email": f"ada-{unique}@example.com",
          "first_name": "Ada"}  # fmt: skip
    sent = live_api.post(
        "/api/v1/events/trigger", {"event": f"{key}.go", "to": [to], "payload": PAYLOAD}
    )
    assert sent.status_code == 202, sent.content
    wait_until(lambda: statuses(sent.json()["notification_id"]).get("sent") == 1, what="sent")
    message = smtp_server.wait_for(1, timeout=10)[0]

    # then the HTML part is MJML's responsive HTML, the data in it escaped once
    html = _part(message, "html")
    assert html.lower().startswith("<!doctype html>")
    assert "@media only screen and (min-width:480px)" in html
    assert "mj-column-per-100" in html
    assert "<mj-" not in html and "{{" not in html and "{%" not in html
    assert "Hi Ada" in html
    assert "Fish &amp; &lt;chips&gt; &#34;fresh&#34;" in html
    assert 'href="https://shop.example/o/A-1"' in html
    assert html.count("- tea") == 1 and html.count("- scones") == 1
    # and the text part reads as text: no CSS, no markup, the link kept
    text = _part(message, "plain")
    assert "Hi Ada" in text
    assert 'Fish & <chips> "fresh"' in text
    assert "- tea" in text and "- scones" in text
    assert "https://shop.example/o/A-1" in text
    assert "@media" not in text and "mj-column" not in text and "<div" not in text


def test_a_broken_mjml_body_is_a_400_with_the_compilers_message(acme, acme_api):
    broken = "<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-column>"

    response = acme_api.post("/api/v1/templates", mjml_template(body=broken))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "mjml_invalid"
    assert "MJML could not be compiled" in error["message"]
    assert "unexpected" in error["message"]
    assert "body" in error["fields"]
    with schema_context(acme.schema):
        assert not Template.objects.exists()
    connection.set_schema_to_public()


def test_a_broken_mjml_variant_is_a_400_on_that_variant(acme_api):
    variants = [{"name": "b", "body": "<mjml><mj-body><mj-section>"}]

    response = acme_api.post("/api/v1/templates", mjml_template(variants=variants))

    assert response.status_code == 400
    assert "variants.0.body" in response.json()["error"]["fields"]


@pytest.mark.parametrize("path", ["/etc/hostname", "./header.mjml"])
def test_mj_include_of_a_file_is_refused(acme_api, path):
    body = f'<mjml><mj-body><mj-include path="{path}" /></mj-body></mjml>'

    response = acme_api.post("/api/v1/templates", mjml_template(body=body))

    assert response.status_code == 400
    assert "mj-include is not available" in response.json()["error"]["message"]


def test_mj_include_of_a_url_is_refused_and_fetches_nothing(acme_api, http_server):
    http_server.respond(200, {"ok": True})
    body = f'<mjml><mj-body><mj-include path="{http_server.url}/part.mjml" /></mj-body></mjml>'

    response = acme_api.post("/api/v1/templates", mjml_template(body=body))

    assert response.status_code == 400
    assert "mj-include is not available" in response.json()["error"]["message"]
    assert http_server.requests == []
    assert http_server.connections == 0


def test_jinja_errors_in_mjml_are_reported_as_for_html(acme_api):
    body = MJML_BODY.replace("{{ payload.note }}", "{{ secret.note }}")

    response = acme_api.post("/api/v1/templates", mjml_template(body=body))

    assert response.status_code == 400
    assert "Unknown name 'secret'" in str(response.json()["error"]["fields"]["body"])


def test_mjml_is_for_email_only(acme_api):
    body = {"key": "code", "channel": "sms", "format": "mjml", "body": "Code"}

    response = acme_api.post("/api/v1/templates", body)

    assert response.status_code == 400
    assert "format" in response.json()["error"]["fields"]


def test_the_format_is_kept_and_defaults_to_html(acme_api):
    assert acme_api.post("/api/v1/templates", mjml_template()).status_code == 201
    plain = {"key": "plain", "channel": "email", "subject": "S", "body": "<p>B</p>"}
    assert acme_api.post("/api/v1/templates", plain).status_code == 201

    assert acme_api.get("/api/v1/templates/shipped").json()["format"] == "mjml"
    assert acme_api.get("/api/v1/templates/plain").json()["format"] == "html"


def test_an_mjml_preview_is_the_compiled_html(acme_api):
    assert acme_api.post("/api/v1/templates", mjml_template()).status_code == 201

    shown = acme_api.post(
        "/api/v1/templates/shipped/preview",
        {"payload": PAYLOAD, "subscriber": {"subscriber_id": "ada", "first_name": "Ada"}},
    ).json()

    assert shown["html"].lower().startswith("<!doctype html>")
    assert "Fish &amp; &lt;chips&gt;" in shown["html"]
    assert "Hi Ada" in shown["text"] and "<" not in shown["text"].replace("<chips>", "")


def test_the_admin_compiles_mjml_on_save(client, acme, acme_api):  # noqa: F811
    broken = client.post(
        f"{ADMIN}/template/add/",
        template_data(format="mjml", body="<mjml><mj-body><mj-section>"),
    )
    saved = client.post(f"{ADMIN}/template/add/", template_data(format="mjml", body=MJML_BODY))

    assert "MJML could not be compiled" in str(form_errors(broken)["body"])
    assert saved.status_code == 302, form_errors(saved)
    shown = acme_api.get("/api/v1/templates/order-shipped").json()
    assert (shown["format"], shown["body"]) == ("mjml", MJML_BODY)
    entry = acme_api.get("/api/v1/audit-log", {"resource": "template"}).json()["results"][0]
    assert (entry["actor"], entry["after"]["format"]) == ("admin:ops@acme.test", "mjml")
