"""Links a recipient follows (`cta_url`): absolute http(s) URLs only.

A `javascript:` or `data:` URL in an inbox or a push notification runs in the tenant's front
end or opens content no one checked, so every other scheme, and a relative URL, is refused:
on save when the template spells the URL's start out literally, and at render for the URL
the data produced.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

LINK_SCHEMES = ("http", "https")
LINK_REFUSED = "Only absolute http(s) URLs are allowed here"
# Browsers drop tabs and newlines anywhere in a URL and leading controls and spaces
# (WHATWG URL), so `java\tscript:` is still javascript:.
_IGNORED = re.compile(r"[\t\n\r]")
_TAG = re.compile(r"\{[{%#]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


_LEADING = "".join(chr(c) for c in range(0x21))  # C0 controls and space


def _normalised(url: str) -> str:
    return _IGNORED.sub("", url).lstrip(_LEADING)


def _scheme_error(scheme: str) -> str | None:
    scheme = scheme.lower()
    return None if scheme in LINK_SCHEMES else f"{LINK_REFUSED}, not '{scheme[:20]}:'."


def link_error(url: str) -> str | None:
    """Why `url` may not be a link (a message naming its scheme, never the URL), or None."""
    url = _normalised(url)
    match = _SCHEME.match(url)
    if match is None:
        return f"{LINK_REFUSED}; this one is relative."
    if problem := _scheme_error(match.group(1)):
        return problem
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return None if host else f"{LINK_REFUSED}; this one has no host."


def link_source_errors(source: str) -> list[str]:
    """Save-time check of a URL template, as far as the template writes the URL literally.

    `https://shop.example/{{ payload.path }}` passes; `javascript:{{ payload.x }}` and
    `/orders/{{ payload.id }}` do not; `{{ payload.url }}` is left to the check at render.
    """
    if not source or not source.strip():
        return []
    if _TAG.search(source) is None:
        problem = link_error(source)
        return [problem] if problem else []
    literal = _normalised(_TAG.split(source, maxsplit=1)[0])
    match = _SCHEME.match(literal)
    if match:
        problem = _scheme_error(match.group(1))
    elif literal[:1] in ("/", ".", "?", "#"):
        problem = f"{LINK_REFUSED}; this one is relative."
    else:
        problem = None
    return [problem] if problem else []
