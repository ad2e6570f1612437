"""One message rendered: context in, escaping, one-line subjects, errors that hide the data."""

from __future__ import annotations

import pytest

from notifications.rendering import RenderError, render_message
from tests.notifications.rendering.helpers import render, template, variant


def test_renders_payload_subscriber_and_actor():
    message = render_message(
        template=template(
            body="{{ actor.first_name }} sent {{ subscriber.first_name }} order {{ payload.id }}",
            cta_url=" https://x.example/o/{{ payload.id }} ",
        ),
        variant=None,
        context={
            "payload": {"id": "A-1"},
            "subscriber": {"first_name": "Ada"},
            "actor": {"first_name": "Bob"},
        },
    )

    assert message.body == "Bob sent Ada order A-1"
    assert message.text_body == message.body
    assert message.cta_url == "https://x.example/o/A-1"
    assert message.data == {"id": "A-1"}


def test_email_html_is_autoescaped_but_subject_and_sms_are_not():
    payload = {"name": "<b>Tom & Jerry</b>"}

    email = render_message(
        template=template(
            channel="email", subject="Hi {{ payload.name }}", body="<p>{{ payload.name }}</p>"
        ),
        variant=None,
        context={"payload": payload},
    )
    sms = render("Hi {{ payload.name }}", {"payload": payload})

    assert email.body == "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"
    assert email.subject == "Hi <b>Tom & Jerry</b>"
    assert email.text_body == "<b>Tom & Jerry</b>"
    assert sms.body == "Hi <b>Tom & Jerry</b>"


def test_subject_is_one_line():
    message = render_message(
        template=template(channel="email", subject="Re: {{ payload.s }}", body="x"),
        variant=None,
        context={"payload": {"s": "a\r\nBcc: evil@example.com"}},
    )

    assert message.subject == "Re: a Bcc: evil@example.com"


def test_undefined_names_raise_render_error_naming_the_template():
    with pytest.raises(RenderError) as raised:
        render("Order {{ payload.order_id }}", {"payload": {"other": "x"}})

    assert "order-shipped" in str(raised.value)
    assert "order_id" in str(raised.value)


def test_render_errors_never_include_payload_values():
    context = {"payload": {"email": "ada@example.com", "key": "secret-value-123"}}

    with pytest.raises(RenderError) as raised:
        render("{{ payload[payload.email] }}{{ payload[payload.key] }}", context)

    assert "ada@example.com" not in str(raised.value)
    assert "secret-value-123" not in str(raised.value)


def test_render_error_gives_the_line():
    with pytest.raises(RenderError) as raised:
        render("line one\nline two {{ payload.missing }}", {"payload": {}})

    assert "line 2" in str(raised.value)


def test_a_missing_actor_is_falsy_but_strict():
    assert render("{% if actor %}a{% else %}none{% endif %}", {"payload": {}}).body == "none"
    with pytest.raises(RenderError):
        render("{{ actor.first_name }}", {"payload": {}})


def test_variant_overrides_subject_and_body_only_where_set():
    tpl = template(channel="email", subject="Default {{ payload.n }}", body="<p>Default</p>")

    with_body = render_message(
        template=tpl,
        variant=variant("b", body="<p>B {{ payload.n }}</p>"),
        context={"payload": {"n": 1}},
    )
    with_subject = render_message(
        template=tpl, variant=variant("c", subject="C", body=""), context={"payload": {"n": 1}}
    )

    assert (with_body.subject, with_body.body) == ("Default 1", "<p>B 1</p>")
    assert (with_subject.subject, with_subject.body) == ("C", "<p>Default</p>")


def test_text_part_of_an_email_keeps_paragraphs_and_link_urls():
    message = render_message(
        template=template(
            channel="email",
            subject="S",
            body=(
                "<html><head><style>p {color: red}</style><title>T</title></head><body>"
                "<h1>Hello   {{ subscriber.first_name }}</h1>"
                "<p>Your order\n   shipped.<br>Track it <a href='{{ payload.url }}'>here</a>.</p>"
                "<ul><li>One</li><li>Two</li></ul>"
                "<p><a href='https://x.example/'>https://x.example/</a></p>"
                "<script>alert(1)</script></body></html>"
            ),
        ),
        variant=None,
        context={
            "payload": {"url": "https://t.example/a?b=1&c=2"},
            "subscriber": {"first_name": "Ada"},
        },
    )

    assert message.text_body == (
        "Hello Ada\n\n"
        "Your order shipped.\n"
        "Track it here (https://t.example/a?b=1&c=2).\n\n"
        "- One\n- Two\n\n"
        "https://x.example/"
    )
