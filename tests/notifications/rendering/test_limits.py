"""Bounded rendering: argument widths, characters built, output per channel, time per render."""

from __future__ import annotations

import re
import time
import tracemalloc

import pytest
from django.test import override_settings

from notifications.rendering import RenderLimitError, template_check
from notifications.rendering.sandbox import compile_template
from tests.notifications.rendering.helpers import render

DOUBLING = "{% set a = a ~ a %}"
NESTED = "{% set a = [a, a] %}"

HOSTILE = {
    # finding 1: constant expressions Jinja used to evaluate while compiling
    "center": ("{{ 'a'|center(999999999) }}", "RENDER_MAX_WIDTH"),
    "format filter width": ("{{ '%999999999s'|format('a') }}", "RENDER_MAX_WIDTH"),
    "% precision": ("{{ '%.999999999f' % 1.5 }}", "RENDER_MAX_WIDTH"),
    "% star width": ("{{ '%*s' % (999999999, 'a') }}", "widths in % formatting"),
    "str.format width": ("{{ '{:>999999999}'.format('a') }}", "RENDER_MAX_WIDTH"),
    "str.format nested width": ("{{ '{:>{w}}'.format('a', w=999999999) }}", "RENDER_MAX_WIDTH"),
    "ljust": ("{{ 'a'.ljust(999999999) }}", "RENDER_MAX_WIDTH"),
    "indent": ("{{ ('a\n' * 50000)|indent(999) }}", "RENDER_MAX_BUILD_CHARS"),
    "indent by a string": (
        "{% set s = 'x' * 90000 %}{{ ('a\n' * 50000)|indent(s) }}",
        "RENDER_MAX_BUILD_CHARS",
    ),
    "wordwrap": (
        "{{ ('a ' * 50000)|wordwrap(1, wrapstring='x' * 999) }}",
        "RENDER_MAX_BUILD_CHARS",
    ),
    "replace": ("{{ ('a' * 100000)|replace('a', 'b' * 100) }}", "RENDER_MAX_BUILD_CHARS"),
    "repeat": ("{{ 'a' * 100000000 }}", "too long"),
    "power": ("{{ 9 ** 9999999 }}", "too large"),
    "big integers": ("{% set a = 2 ** 4000 %}{{ a * a * a }}", "too large"),
    "~ doubling": ("{% set a = 'x' * 100000 %}" + DOUBLING * 12, "RENDER_MAX_BUILD_CHARS"),
    "+ doubling": ("{% set a = 'x' * 100000 %}" + DOUBLING.replace("~", "+") * 12, "BUILD"),
    "a list printing itself 2**40 times": (
        "{% set a = ['x' * 1000] %}" + NESTED * 40 + "{{ a }}",
        "RENDER_MAX_BUILD_CHARS",
    ),
    # a million one-letter strings to count: whichever limit comes first
    "tojson of shared lists": (
        "{% set a = ['x'] %}" + NESTED * 40 + "{{ a|tojson }}",
        "BUILD_CHARS|TIME_BUDGET",
    ),
    "join": ("{{ (['x' * 100000] * 100000)|join }}", "RENDER_MAX_BUILD_CHARS"),
    "str.join": ("{{ ''.join(['x' * 100000] * 100000) }}", "RENDER_MAX_BUILD_CHARS"),
    "sum of lists": ("{{ ([['x'] * 100000] * 100000)|sum(start=[]) }}", "too long"),
    "batch fill": ("{{ 'ab'|batch(999999999, 'x')|list }}", "RENDER_MAX_WIDTH"),
    "slice": ("{{ 'ab'|slice(999999999)|list }}", "RENDER_MAX_WIDTH"),
    "map through center": ("{{ ['a']|map('center', 999999999)|list }}", "RENDER_MAX_WIDTH"),
    "expandtabs": ("{{ ('\t' * 100000).expandtabs(999999) }}", "RENDER_MAX_WIDTH"),
    "template text in a loop": (
        "{% set s %}{% for a in 'x' * 100000 %}" + "L" * 10000 + "{% endfor %}{% endset %}",
        "RENDER_MAX_BUILD_CHARS",
    ),
    # time
    "long loops": (
        "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}",
        "RENDER_TIME_BUDGET_SECONDS",
    ),
    "macros calling themselves twice": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        "RENDER_TIME_BUDGET_SECONDS",
    ),
    "macro output doubling": (
        "{% macro f(n) %}{% if n %}{% set s = f(n - 1) %}{{ s }}{{ s }}{% endif %}x{% endmacro %}"
        "{{ f(40) }}",
        "RENDER_MAX_BUILD_CHARS",
    ),
}


@override_settings(RENDER_TIME_BUDGET_SECONDS=0.2)
@pytest.mark.parametrize("source, limit", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_template_over_a_limit_stops_and_the_error_names_the_limit(source, limit):
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(RenderLimitError) as raised:
            render(source, {"payload": {}}, channel="email")
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert re.search(limit, str(raised.value))
    assert "order-shipped" in str(raised.value)
    assert elapsed < 2
    assert peak < 100 * 1024 * 1024


def test_compiling_a_template_runs_none_of_its_code():
    # finding 1: Jinja folded constants while compiling, so saving this took 15 s and 3 GB.
    source = "{{ 'a'|center(999999999) }}{{ '%999999999s'|format('b') }}{{ 'c'|indent(99999) }}"
    compile_template.cache_clear()
    tracemalloc.start()
    try:
        compile_template(source, False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 10 * 1024 * 1024


@pytest.mark.parametrize(
    "channel, cap",
    [("sms", 1600), ("push", 4096), ("in_app", 16384), ("chat", 40000), ("email", 262144)],
)
def test_each_channel_caps_the_message_it_renders(channel, cap):
    fits = render("{{ payload.s }}", {"payload": {"s": "x" * cap}}, channel=channel)
    with pytest.raises(RenderLimitError) as raised:
        render("{{ payload.s }}", {"payload": {"s": "x" * (cap + 1)}}, channel=channel)

    assert len(fits.body) == cap
    assert f"RENDER_MAX_OUTPUT_{channel.upper()}" in str(raised.value)
    assert f"{cap:,} characters" in str(raised.value)


def test_the_cap_counts_subject_body_and_link_together():
    with pytest.raises(RenderLimitError, match="RENDER_MAX_OUTPUT_PUSH"):
        render(
            "{{ payload.s }}",
            {"payload": {"s": "b" * 2100}},
            channel="push",
            subject="{{ payload.s }}",
        )


def test_output_over_the_cap_stops_as_it_is_produced():
    # finding 2: a loop over a 200-item payload list rendered an 8 MB in-app message.
    payload = {"items": [{"name": "n" * 200} for _ in range(200)]}
    source = "{% for a in payload['items'] %}{% for b in payload['items'] %}{{ a.name }}"
    source += "{% endfor %}{% endfor %}"
    tracemalloc.start()
    try:
        with pytest.raises(RenderLimitError, match="RENDER_MAX_OUTPUT_IN_APP"):
            render(source, {"payload": payload}, channel="in_app")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 2 * 1024 * 1024


@override_settings(RENDER_TIME_BUDGET_SECONDS=0.1, RENDER_MAX_OUTPUT={"sms": 10})
def test_the_limits_come_from_settings():
    started = time.monotonic()
    with pytest.raises(RenderLimitError, match=r"time budget of 0.1 s"):
        render("{% for a in 'x' * 100000 %}{% for b in 'x' * 1000 %}{% endfor %}{% endfor %}", {})
    elapsed = time.monotonic() - started
    with pytest.raises(RenderLimitError, match="limit of 10 characters"):
        render("{{ 'x' * 11 }}", {}, channel="sms")

    assert elapsed < 1


def test_ordinary_templates_render_as_before():
    payload = {
        "order_id": "A-1",
        "total": 12.5,
        "items": [{"name": f"item {n}", "qty": n} for n in range(200)],
        "note": "a long note " * 20,
    }
    source = (
        "{{ 'Receipt'|center(20) }}|{{ '%-8s|%6.2f' % (payload.order_id, payload.total) }}|"
        "{{ '{:>6}'.format(payload.order_id) }}|{{ 'x'.ljust(3) }}|{{ '-' * 10 }}\n"
        "{% for item in payload['items'] %}{{ loop.index }}. {{ item.name ~ ' x' ~ item.qty }}\n"
        "{% endfor %}{{ payload.note|wordwrap(40)|indent(2) }}\n"
        "{{ payload['items']|map(attribute='name')|join(', ')|truncate(30) }}"
        "{{ payload['items']|batch(3, '')|list|length }}"
    )

    body = render(source, {"payload": payload}, channel="email").body

    assert body.startswith("      Receipt       |A-1     | 12.50|   A-1|x  |----------\n")
    assert "200. item 199 x199\n" in body
    assert body.endswith("item 0, item 1, item 2,...67")


def test_saving_refuses_a_template_whose_own_constants_go_over_a_limit():
    check = template_check(
        channel="sms",
        subject="",
        body="Hi {{ subscriber.first_name }}\n{{ 'a'|center(999999999) }}",
        variants=[{"name": "b", "body": "{% for a in 'x' * 99999 %}{{ a }}{% endfor %}"}],
    )

    assert check.over_limit == {"body", "variants.0.body"}
    assert check.errors["body"] == [
        "Line 2: Over a render limit: center() width of 999,999,999 is over the limit of 1,000 "
        "(RENDER_MAX_WIDTH)."
    ]
    assert "RENDER_MAX_OUTPUT_SMS" in check.errors["variants.0.body"][0]


def test_saving_refuses_a_macro_that_never_stops_calling_itself():
    check = template_check(
        channel="sms", subject="", body="{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"
    )

    assert check.over_limit == {"body"}
    assert "recurses too deeply" in check.errors["body"][0]


@pytest.mark.parametrize(
    "body",
    [
        "{% if payload.total > 100 %}Big{% else %}Small{% endif %} order {{ payload.id }}",
        "{% for item in payload['items'] %}{{ item.name|upper }} {{ item.qty * 2 }}{% endfor %}",
        "{{ payload.count|int + 1 }} {{ '%05d' % payload.n }} {{ subscriber.data.get('x') }}",
        "{{ (payload.a ~ payload.b)|truncate(10) }} {{ payload.list|join(', ') }}",
        "{% macro row(i) %}<{{ i }}>{% endmacro %}"
        "{% for i in payload.rows %}{{ row(i) }}{% endfor %}",
    ],
)
def test_blank_data_never_makes_an_ordinary_template_fail_on_save(body):
    check = template_check(channel="in_app", subject="", body=body)

    assert check.errors == {}
    assert check.over_limit == set()


@pytest.mark.parametrize(
    "source",
    [
        "{% if true %}" * 200 + "x" + "{% endif %}" * 200,
        "{% for a in 'ab' %}" * 30 + "x" + "{% endfor %}" * 30,
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    ],
    ids=["ifs", "loops", "parentheses"],
)
def test_deep_nesting_is_a_template_error_on_save(source):
    errors = template_check(channel="sms", subject="", body=source).errors

    assert errors["body"][0].startswith("Line 1: ")
    assert "nested too deeply" in errors["body"][0]
