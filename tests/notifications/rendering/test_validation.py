"""Templates are checked on save: they parse, and use only payload, subscriber and actor."""

from __future__ import annotations

import pytest

from notifications.rendering import template_errors, template_uses_subscriber


def test_a_valid_template_has_no_errors():
    errors = template_errors(
        channel="email",
        subject="Hi {{ subscriber.first_name }}",
        body="<p>{{ payload.order_id }} by {{ actor.first_name | default('us') }}</p>",
        cta_url="https://shop.example/orders/{{ payload.order_id }}",
        variants=[{"name": "b", "weight": 1, "subject": "", "body": "{{ payload.total }}"}],
    )

    assert errors == {}


def test_loops_filters_and_tests_are_allowed():
    body = (
        "{% for item in payload.lines %}{{ loop.index }}. {{ item.name | upper }}\n{% endfor %}"
        "{% if payload.coupon is defined %}{{ payload.coupon }}{% endif %}"
        "{% set total = payload.total %}{{ total }}"
    )

    assert template_errors(channel="sms", subject="", body=body) == {}


@pytest.mark.parametrize("name", ["order", "range", "lipsum", "config", "request", "self"])
def test_names_other_than_payload_subscriber_actor_are_rejected(name):
    errors = template_errors(channel="sms", subject="", body=f"Hi {{{{ {name} }}}}")

    assert list(errors) == ["body"]
    assert f"Unknown name '{name}'" in errors["body"][0]


def test_syntax_errors_are_reported_with_field_and_line():
    errors = template_errors(
        channel="email",
        subject="Hello {{ payload.name ",
        body="<p>fine</p>\n{% if payload.x %}\nunclosed",
    )

    assert set(errors) == {"subject", "body"}
    assert errors["subject"][0].startswith("Line 1:")
    assert errors["body"][0].startswith("Line ")
    assert "endif" in errors["body"][0]


def test_unknown_filters_are_rejected():
    errors = template_errors(channel="sms", subject="", body="{{ payload.x | shell }}")

    assert "No filter named 'shell'" in errors["body"][0]


@pytest.mark.parametrize(
    "source",
    [
        "{{ payload.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ payload['__init__'] }}",
        "{{ subscriber._meta }}",
    ],
)
def test_underscore_attributes_are_rejected_on_save(source):
    errors = template_errors(channel="sms", subject="", body=source)

    assert "attributes starting with '_' are not allowed" in errors["body"][0]


@pytest.mark.parametrize(
    "source", ["{% include 'x' %}", "{% extends 'base' %}", "{% import 'm' as m %}"]
)
def test_include_extends_import_are_rejected(source):
    errors = template_errors(channel="sms", subject="", body=source)

    assert "not available" in " ".join(errors["body"])


def test_variant_sources_are_checked_under_their_own_keys():
    errors = template_errors(
        channel="email",
        subject="S",
        body="B",
        variants=[
            {"name": "a", "subject": "", "body": "ok {{ payload.x }}"},
            {"name": "b", "subject": "{{ nope }}", "body": "{% for %}"},
        ],
    )

    assert set(errors) == {"variants.1.subject", "variants.1.body"}


def test_cta_url_is_checked():
    errors = template_errors(channel="in_app", subject="", body="Hi", cta_url="{{ url }}")

    assert list(errors) == ["cta_url"]


def test_email_needs_a_subject_and_sms_a_body():
    assert "subject" in template_errors(channel="email", subject="  ", body="<p>x</p>")
    for channel in ("sms", "chat", "in_app", "push"):
        assert "body" in template_errors(channel=channel, subject="", body="")
    assert template_errors(channel="sms", subject="", body="text") == {}


def test_email_subject_can_come_from_every_variant():
    ok = template_errors(
        channel="email",
        subject="",
        body="<p>x</p>",
        variants=[{"name": "a", "subject": "A"}, {"name": "b", "subject": "B"}],
    )
    missing = template_errors(
        channel="email",
        subject="",
        body="<p>x</p>",
        variants=[{"name": "a", "subject": "A"}, {"name": "b", "subject": ""}],
    )

    assert ok == {}
    assert list(missing) == ["variants.1.subject"]


def test_unknown_channel_is_reported():
    assert "channel" in template_errors(channel="fax", subject="", body="x")


def test_template_uses_subscriber():
    assert template_uses_subscriber("{{ payload.x }}", "{{ subscriber.first_name }}")
    assert not template_uses_subscriber("{{ payload.x }}", "", "{{ actor.first_name }}")
    assert not template_uses_subscriber("{% set subscriber = 1 %}{{ subscriber }}")
