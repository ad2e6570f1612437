"""The Jinja2 sandbox every tenant-authored template runs in.

Templates are untrusted code: they run in `ImmutableSandboxedEnvironment` (never Django
templates) with no globals, fail loudly on anything undefined (`StrictUndefined`), and may not
build huge strings or integers. Compiled templates are cached per source string, so a batch of
recipients parses each source once.

https://jinja.palletsprojects.com/en/stable/sandbox/
"""

from __future__ import annotations

import math
import operator
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

# Strings and lists a template builds with `*` may not grow past this many items.
MAX_REPEAT_LENGTH = 100_000
# `**` may not produce integers wider than this many bits.
MAX_POWER_BITS = 4096
_TEMPLATE_CACHE_SIZE = 2048


class Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, also refusing `'x' * 10**9`-style memory bombs."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator_: str, left: Any, right: Any) -> Any:
        """Apply `*` or `**`, refusing results past MAX_REPEAT_LENGTH / MAX_POWER_BITS."""
        if operator_ == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and right * math.log2(abs(left)) > MAX_POWER_BITS
            ):
                raise SecurityError("the result of ** is too large.")
            return operator.pow(left, right)
        # operator_ == "*"
        for sequence, times in ((left, right), (right, left)):
            if (
                isinstance(sequence, str | list | tuple)
                and isinstance(times, int)
                and len(sequence) * times > MAX_REPEAT_LENGTH
            ):
                raise SecurityError("the result of * is too long.")
        return operator.mul(left, right)


def _environment(*, autoescape: bool) -> Sandbox:
    env = Sandbox(undefined=StrictUndefined, autoescape=autoescape, auto_reload=False)
    # Only payload / subscriber / actor are visible: no range, lipsum, cycler, namespace...
    env.globals.clear()
    return env


_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)


def environment(*, html: bool) -> Sandbox:
    """The sandbox for HTML (autoescaped) or for plain text (subjects, SMS, URLs)."""
    return _HTML_ENV if html else _TEXT_ENV


@lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def compile_template(source: str, html: bool) -> Template:
    """The compiled template for a source (cached: a batch parses each source once)."""
    return environment(html=html).from_string(source)
