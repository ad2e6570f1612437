"""Click and open tracking: signed tokens, and links rewritten to the tenant's /t/ URLs.

A link `https://shop.example/orders/A-1` in a delivery's message becomes
`<tenant base URL>/t/c/<token>`; the token holds the delivery id and the original URL, signed
with SECRET_KEY and a salt naming the tenant's schema (django.core.signing: HMAC-SHA256), so
a token is only ever read back by the tenant it was made for, and a forged or altered one is
refused (never an open redirect). An open pixel `/t/o/<token>.gif` holds the delivery id.

Rewriting runs once per message in the send path: one regular-expression pass per field and
one HMAC per distinct link.
"""

from __future__ import annotations

import base64
import functools
import html
import re
from dataclasses import dataclass, field, replace

from django.core import signing

from connectors.base import RenderedMessage

CLICK_PATH = "/t/c/"
OPEN_PATH = "/t/o/"
PIXEL_SUFFIX = ".gif"
_SALT = "clarion.tracking"

_HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(https?://[^"'<>\s]+)\2""", re.IGNORECASE)
_BARE = re.compile(r"""https?://[^\s<>"'()\[\]{}]+""", re.IGNORECASE)
# Punctuation that ends a sentence rather than a URL in plain text.
_TRAILING = ".,;:!?"
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _signer(kind: str, schema: str) -> signing.Signer:
    # No timestamp: a link in an email keeps working as long as the message is kept.
    return signing.Signer(salt=f"{_SALT}.{kind}:{schema}")


def click_token(*, schema: str, delivery_id: int, url: str) -> str:
    """The signed token of one link of one delivery: `<id>.<base64url(URL)>:<signature>`."""
    encoded = base64.urlsafe_b64encode(url.encode()).rstrip(b"=").decode()
    return _signer("c", schema).sign(f"{delivery_id}.{encoded}")


def open_token(*, schema: str, delivery_id: int) -> str:
    """The signed token of one delivery's open pixel: `<id>:<signature>`."""
    return _signer("o", schema).sign(str(delivery_id))


def _unsigned(kind: str, token: str, schema: str) -> str | None:
    try:
        return _signer(kind, schema).unsign(token)
    except signing.BadSignature:
        return None


def click_token_read(token: str, *, schema: str) -> tuple[int, str] | None:
    """(delivery id, original URL) of a click token of this tenant; None if forged."""
    value = _unsigned("c", token, schema)
    if value is None:
        return None
    delivery_id, _, encoded = value.partition(".")
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not delivery_id.isdigit() or not url.lower().startswith(("http://", "https://")):
        return None
    return int(delivery_id), url


def open_token_read(token: str, *, schema: str) -> int | None:
    """The delivery id of an open token of this tenant; None if forged."""
    value = _unsigned("o", token, schema)
    return int(value) if value is not None and value.isdigit() else None


@dataclass
class LinkTracker:
    """Rewrites the links of one delivery's message (`base_url` without a trailing slash)."""

    base_url: str
    schema: str
    delivery_id: int
    clicks: bool = True
    opens: bool = False
    _urls: dict[str, str] = field(default_factory=dict)

    def click_url(self, url: str) -> str:
        if url.startswith(self.base_url + "/t/"):
            return url
        tracked = self._urls.get(url)
        if tracked is None:
            token = click_token(schema=self.schema, delivery_id=self.delivery_id, url=url)
            tracked = self._urls[url] = f"{self.base_url}{CLICK_PATH}{token}"
        return tracked

    def pixel_url(self) -> str:
        token = open_token(schema=self.schema, delivery_id=self.delivery_id)
        return f"{self.base_url}{OPEN_PATH}{token}{PIXEL_SUFFIX}"

    def rewrite_html(self, source: str) -> str:
        """Every absolute http(s) `href` (the attribute is HTML-escaped: unescaped first)."""
        if "href" not in source and "HREF" not in source:
            return source
        return _HREF.sub(
            lambda m: (
                f"{m.group(1)}{m.group(2)}{self.click_url(html.unescape(m.group(3)))}{m.group(2)}"
            ),
            source,
        )

    def rewrite_text(self, source: str) -> str:
        """Every bare http(s) URL of plain text (trailing sentence punctuation left out)."""
        if "http" not in source and "HTTP" not in source:
            return source

        def tracked(match: re.Match) -> str:
            url = match.group(0)
            stripped = url.rstrip(_TRAILING)
            return self.click_url(stripped) + url[len(stripped) :]

        return _BARE.sub(tracked, source)

    def add_pixel(self, source: str) -> str:
        pixel = (
            f'<img src="{self.pixel_url()}" width="1" height="1" alt="" '
            'style="display:none;border:0">'
        )
        ends = [m.start() for m in _BODY_END.finditer(source)]
        if not ends:
            return source + pixel
        return source[: ends[-1]] + pixel + source[ends[-1] :]

    def apply(self, message: RenderedMessage, *, email: bool) -> RenderedMessage:
        """The message with its links tracked (and, for email, the open pixel added)."""
        body, text_body, cta_url = message.body, message.text_body, message.cta_url
        if self.clicks:
            if email:
                body = self.rewrite_html(body)
                text_body = self.rewrite_text(text_body)
            else:
                body = self.rewrite_text(body)
                same = message.text_body == message.body
                text_body = body if same else self.rewrite_text(text_body)
            if cta_url:
                cta_url = self.click_url(cta_url)
        if email and self.opens and body:
            body = self.add_pixel(body)
        if (body, text_body, cta_url) == (message.body, message.text_body, message.cta_url):
            return message
        return replace(message, body=body, text_body=text_body, cta_url=cta_url)
