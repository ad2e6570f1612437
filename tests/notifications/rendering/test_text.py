"""The plain-text part of an HTML email."""

from __future__ import annotations

import pytest

from notifications.rendering import html_to_text


def test_html_to_text_drops_javascript_links_and_decodes_entities():
    text = html_to_text("<p>A &amp; B <a href='javascript:x()'>click</a></p><p>C&nbsp;D</p>")

    assert text == "A & B click\n\nC\xa0D"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("", ""),
        ("<p>   </p><p>x</p>", "x"),
        ("<div>a<br/>b</div>", "a\nb"),
        ("<pre>a\n  b</pre><p>c</p>", "a\n  b\n\nc"),
        ("<p>one</p><hr><p>two</p>", "one\n\n---\n\ntwo"),
        (
            "<table><tr><th>Item</th><th>Qty</th></tr><tr><td>Pen</td><td>2</td></tr></table>",
            "Item Qty\nPen 2",
        ),
        (
            "<p>Write to <a href='mailto:help@x.example'>us</a>"
            " or <a href='mailto:help@x.example'>help@x.example</a></p>",
            "Write to us (help@x.example) or help@x.example",
        ),
        (
            "<p><img src='x.png' alt='Logo'> <a href='https://x.example'></a></p>",
            "Logo https://x.example",
        ),
    ],
)
def test_html_to_text_layout(html, text):
    assert html_to_text(html) == text
