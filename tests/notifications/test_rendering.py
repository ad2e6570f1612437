"""Tenant-authored templates: validated on save, rendered in a sandbox, never leaking data."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest

from notifications.rendering import (
    RenderError,
    choose_variant,
    html_to_text,
    render_message,
    select_template,
    subscriber_context,
    template_errors,
    template_uses_subscriber,
)


def template(**fields) -> SimpleNamespace:
    defaults = {"key": "order-shipped", "channel": "sms", "subject": "", "body": "", "cta_url": ""}
    return SimpleNamespace(**{**defaults, **fields})


def variant(name: str, weight: int = 1, subject: str = "", body: str = "") -> SimpleNamespace:
    return SimpleNamespace(name=name, weight=weight, subject=subject, body=body)


def render(body: str, context: dict | None = None, **fields):
    return render_message(template=template(body=body, **fields), variant=None, context=context)


# --- template_errors ---------------------------------------------------------------------


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


# --- rendering ---------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "source",
    [
        "{{ payload.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ payload.update({'a': 1}) }}",
        "{{ payload.items.__globals__ }}",
        "{{ 'a' * 100000000 }}",
        "{{ 9 ** 9999999 }}",
        "{{ range(10) }}",
    ],
)
def test_the_sandbox_blocks_internals_mutation_and_bombs(source):
    with pytest.raises(RenderError):
        render(source, {"payload": {"a": 1}})


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


def test_html_to_text_drops_javascript_links_and_decodes_entities():
    text = html_to_text("<p>A &amp; B <a href='javascript:x()'>click</a></p><p>C&nbsp;D</p>")

    assert text == "A & B click\n\nC\xa0D"


def test_each_source_is_compiled_once():
    from notifications.rendering.sandbox import compile_template as _compile

    source = "Cached {{ payload.n }} " + "x" * 20
    _compile.cache_clear()
    for n in range(1000):
        render(source, {"payload": {"n": n}})

    info = _compile.cache_info()
    assert (info.misses, info.hits) == (1, 999)


def test_template_uses_subscriber():
    assert template_uses_subscriber("{{ payload.x }}", "{{ subscriber.first_name }}")
    assert not template_uses_subscriber("{{ payload.x }}", "", "{{ actor.first_name }}")
    assert not template_uses_subscriber("{% set subscriber = 1 %}{{ subscriber }}")


def test_subscriber_context():
    subscriber = SimpleNamespace(
        subscriber_id="u1",
        email="ada@example.com",
        phone=None,
        first_name="Ada",
        last_name="L",
        locale="en-GB",
        timezone="Europe/London",
        data={"plan": "pro"},
    )

    assert subscriber_context(subscriber) == {
        "subscriber_id": "u1",
        "email": "ada@example.com",
        "phone": "",
        "first_name": "Ada",
        "last_name": "L",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "data": {"plan": "pro"},
    }


# --- choosing ----------------------------------------------------------------------------


def test_variant_choice_is_deterministic_per_subscriber():
    variants = [variant("a"), variant("b"), variant("c")]

    first = [
        choose_variant(template_key="t", subscriber_id=f"u{i}", variants=variants)
        for i in range(50)
    ]
    again = [
        choose_variant(template_key="t", subscriber_id=f"u{i}", variants=list(reversed(variants)))
        for i in range(50)
    ]

    assert [v.name for v in first] == [v.name for v in again]
    assert {v.name for v in first} == {"a", "b", "c"}


def test_variant_choice_follows_weights():
    variants = [variant("control", weight=1), variant("treatment", weight=3)]

    counts = Counter(
        choose_variant(template_key="welcome", subscriber_id=f"user-{i}", variants=variants).name
        for i in range(10_000)
    )

    assert abs(counts["treatment"] / 10_000 - 0.75) < 0.02


def test_variant_choice_differs_between_templates():
    variants = [variant("a"), variant("b")]

    one = [
        choose_variant(template_key="t1", subscriber_id=f"u{i}", variants=variants).name
        for i in range(200)
    ]
    two = [
        choose_variant(template_key="t2", subscriber_id=f"u{i}", variants=variants).name
        for i in range(200)
    ]

    assert one != two


def test_no_variant_without_variants_or_weight():
    assert choose_variant(template_key="t", subscriber_id="u", variants=[]) is None
    zero = [variant("a", weight=0), variant("b", weight=0)]
    assert choose_variant(template_key="t", subscriber_id="u", variants=zero) is None
    only_b = [variant("a", weight=0), variant("b", weight=2)]
    assert choose_variant(template_key="t", subscriber_id="u", variants=only_b).name == "b"


@pytest.mark.parametrize(
    ("available", "wanted", "chosen"),
    [
        (["en", "fr", "fr-CA"], "fr-CA", "fr-CA"),
        (["en", "fr", "fr-CA"], "fr_ca", "fr-CA"),
        (["en", "fr"], "fr-CA", "fr"),
        (["en", "fr-FR"], "fr-CA", "fr-FR"),
        (["de", "en"], "ja", "en"),
        (["de", "en-US"], "ja", "en-US"),
        (["de", "it"], "ja", "de"),
        (["de", "en"], "", "en"),
    ],
)
def test_locale_fallback(available, wanted, chosen):
    templates = [template(locale=locale) for locale in available]

    assert select_template(templates, wanted, "en").locale == chosen


def test_default_locale_comes_from_settings(settings):
    settings.CLARION_DEFAULT_LOCALE = "de"
    templates = [template(locale="en"), template(locale="de")]

    assert select_template(templates, "ja").locale == "de"
    assert select_template([], "en", "en") is None
