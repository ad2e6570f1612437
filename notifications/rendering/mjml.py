"""MJML email bodies: compiled to responsive HTML by MRML (a Rust port of MJML, through its
Python binding; no Node).

The order is compile, then render: the MJML source — Jinja tags and all, which MRML keeps as
text and attribute values — is compiled to HTML once, and that HTML is rendered like any
HTML email body, autoescaped. So data is escaped exactly once, for the HTML it lands in, and
never passes through the MJML parser (where a `"` or `<` from data could change the markup).
Jinja tags may go where text may: in `mj-text`, in attribute values, between sections.

`mj-include` is refused: the parser's include loader is MRML's no-op loader, so a tenant's
template can read no file and fetch no URL.

https://documentation.mjml.io/ — https://github.com/jdrouet/mrml
"""

from __future__ import annotations

from functools import lru_cache

import mrml

MJML = "mjml"
_CACHE_SIZE = 256


class MjmlError(Exception):
    """An MJML source that does not compile; the message is MRML's."""


def _parser_options() -> mrml.ParserOptions:
    # Explicit, so no default can ever bring in the local-file or HTTP loaders.
    return mrml.ParserOptions(include_loader=mrml.noop_loader())


@lru_cache(maxsize=_CACHE_SIZE)
def mjml_to_html(source: str) -> str:
    """The HTML an MJML source compiles to; MjmlError when it does not compile."""
    try:
        return mrml.to_html(source, parser_options=_parser_options()).content
    except (OSError, ValueError) as exc:
        message = str(exc) or type(exc).__name__
        if "include" in message:
            message = f"{message} (mj-include is not available)"
        raise MjmlError(message) from None
