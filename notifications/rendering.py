"""Tenant-authored content, rendered safely.

Templates are written by tenants' operators and marketers, so they are untrusted code:
they run in Jinja2's `ImmutableSandboxedEnvironment` (never Django templates), see only
`payload`, `subscriber` and `actor`, and fail loudly on anything undefined
(`StrictUndefined`). Email HTML bodies are autoescaped; subjects and plain-text bodies are
not (they are not HTML). Compiled templates are cached per source string, so a batch of
recipients parses each source once.

https://jinja.palletsprojects.com/en/stable/sandbox/
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
import traceback
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any, Protocol

from django.conf import settings
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from connectors.base import RenderedMessage

# The only top-level names a template can use.
CONTEXT_NAMES = frozenset({"payload", "subscriber", "actor"})
CHANNELS = ("email", "sms", "push", "chat", "in_app")
# Strings and lists a template builds with `*` may not grow past this many items.
MAX_REPEAT_LENGTH = 100_000
# `**` may not produce integers wider than this many bits.
MAX_POWER_BITS = 4096
_TEMPLATE_CACHE_SIZE = 2048


class RenderError(Exception):
    """A template failed at render time; the message names the template, never the data."""


class _VariantLike(Protocol):
    name: str
    weight: int


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, also refusing `'x' * 10**9`-style memory bombs."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator_: str, left: Any, right: Any) -> Any:
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


def _environment(*, autoescape: bool) -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, autoescape=autoescape, auto_reload=False)
    # Only payload / subscriber / actor are visible: no range, lipsum, cycler, namespace...
    env.globals.clear()
    return env


_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)


def _env(html: bool) -> _Sandbox:
    return _HTML_ENV if html else _TEXT_ENV


@lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def _compile(source: str, html: bool):
    """The compiled template for a source (cached: a batch parses each source once)."""
    return _env(html).from_string(source)


@lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def _names(source: str) -> frozenset[str] | None:
    """Top-level names a source references; None when it does not parse."""
    try:
        return frozenset(meta.find_undeclared_variables(_TEXT_ENV.parse(source)))
    except TemplateSyntaxError:
        return None


# --- validation (on save: API and admin) ---------------------------------------------------


def _source_errors(source: str, *, html: bool) -> list[str]:
    """Problems with one template source, each a sentence naming the line where it can."""
    if not source:
        return []
    env = _env(html)
    try:
        ast = env.parse(source)
        # Walks the code generator: also fails on unknown filters and tests.
        unknown = sorted(meta.find_undeclared_variables(ast) - CONTEXT_NAMES)
    except TemplateSyntaxError as exc:
        return [f"Line {exc.lineno}: {exc.message}"]
    # `self` (the template's blocks) is special to Jinja, and not ours to give.
    if any(node.name == "self" for node in ast.find_all(nodes.Name) if node.ctx == "load"):
        unknown = sorted({*unknown, "self"})
    errors: list[str] = []
    for name in unknown:
        errors.append(
            f"Unknown name '{name}': templates can only use payload, subscriber and actor."
        )
    for node in ast.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        errors.append(f"Line {node.lineno}: include, extends and import are not available.")
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            attr = node.arg.value
        if isinstance(attr, str) and attr.startswith("_"):
            errors.append(f"Line {node.lineno}: attributes starting with '_' are not allowed.")
    if not errors:
        try:
            _compile(source, html)
        except TemplateSyntaxError as exc:
            errors.append(f"Line {exc.lineno}: {exc.message}")
    return errors


def template_errors(
    *,
    channel: str,
    subject: str,
    body: str,
    cta_url: str = "",
    variants: Iterable[Mapping[str, Any]] = (),
) -> dict[str, list[str]]:
    """Field → messages for every problem with a template and its variants; {} when valid."""
    errors: dict[str, list[str]] = {}
    variants = list(variants)
    html = channel == "email"

    def add(field: str, messages: list[str]) -> None:
        if messages:
            errors.setdefault(field, []).extend(messages)

    if channel not in CHANNELS:
        add("channel", [f"Unknown channel; use one of {', '.join(CHANNELS)}."])
    add("subject", _source_errors(subject or "", html=False))
    add("body", _source_errors(body or "", html=html))
    add("cta_url", _source_errors(cta_url or "", html=False))
    for index, variant in enumerate(variants):
        add(f"variants.{index}.subject", _source_errors(variant.get("subject") or "", html=False))
        add(f"variants.{index}.body", _source_errors(variant.get("body") or "", html=html))

    # Every message a recipient can get (the template, or a variant over it) needs content.
    own = {"subject": subject or "", "body": body or ""}
    required = [("subject", "a subject"), ("body", "a body")] if html else [("body", "a body")]
    for field, what in required:
        if own[field].strip():
            continue
        if not variants:
            article = "An" if channel[:1] in "aeiou" else "A"
            add(field, [f"{article} {channel} template needs {what}."])
            continue
        for index, variant in enumerate(variants):
            if not (variant.get(field) or "").strip():
                add(
                    f"variants.{index}.{field}",
                    [f"This variant needs {what}, since the template has none."],
                )
    return errors


def template_uses_subscriber(*sources: str) -> bool:
    """True if any source references `subscriber` (then it is rendered per recipient)."""
    for source in sources:
        if not source:
            continue
        names = _names(source)
        # A source that does not parse is rendered per recipient, to fail there visibly.
        if names is None or "subscriber" in names:
            return True
    return False


# --- choosing what to render ---------------------------------------------------------------


def choose_variant(
    *, template_key: str, subscriber_id: str, variants: Sequence[_VariantLike]
) -> Any | None:
    """The variant a subscriber gets: weighted, and always the same for the same subscriber."""
    # Sorted by name, so the choice does not depend on the order the rows were read in.
    weighted = sorted((v for v in variants if (v.weight or 0) > 0), key=lambda v: v.name)
    total = sum(v.weight for v in weighted)
    if not total:
        return None
    digest = hashlib.sha256(f"{template_key}\x1f{subscriber_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for variant in weighted:
        point -= variant.weight
        if point < 0:
            return variant
    return weighted[-1]  # pragma: no cover - unreachable


def _locale_key(locale: str) -> str:
    return (locale or "").replace("_", "-").lower()


def select_template(
    templates: Sequence[Any], locale: str, default_locale: str | None = None
) -> Any | None:
    """The template for a locale: exact, then its language, then the default locale, then any."""
    templates = list(templates)
    if not templates:
        return None
    if default_locale is None:
        default_locale = getattr(settings, "CLARION_DEFAULT_LOCALE", "en")
    by_locale: dict[str, Any] = {}
    for template in templates:
        by_locale.setdefault(_locale_key(template.locale), template)

    def language(value: str) -> str:
        return value.split("-", 1)[0]

    for wanted in (_locale_key(locale), _locale_key(default_locale)):
        if not wanted:
            continue
        if wanted in by_locale:
            return by_locale[wanted]
        if language(wanted) in by_locale:
            return by_locale[language(wanted)]
        # fr-CA wanted, only fr-FR written: still better than another language.
        same_language = sorted(k for k in by_locale if language(k) == language(wanted))
        if same_language:
            return by_locale[same_language[0]]
    return by_locale[sorted(by_locale)[0]]


# --- rendering -----------------------------------------------------------------------------


def subscriber_context(subscriber) -> dict[str, Any]:
    """What a template sees as `subscriber`."""
    return {
        "subscriber_id": subscriber.subscriber_id,
        "email": subscriber.email or "",
        "phone": subscriber.phone or "",
        "first_name": subscriber.first_name or "",
        "last_name": subscriber.last_name or "",
        "locale": subscriber.locale or "",
        "timezone": subscriber.timezone or "",
        "data": dict(subscriber.data or {}),
    }


def _context_strings(value: Any, found: set[str], depth: int = 0) -> None:
    """Every string (and longer number) in the context, to keep them out of error messages."""
    if depth > 20:
        return
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _context_strings(key, found, depth + 1)
            _context_strings(sub, found, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for sub in value:
            _context_strings(sub, found, depth + 1)
    elif isinstance(value, str):
        if len(value) >= 2:
            found.add(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        if len(text) >= 3:
            found.add(text)


def _safe_message(exc: BaseException, context: Mapping[str, Any]) -> str:
    """Jinja's message with every context value blanked out, shortened."""
    message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    found: set[str] = set()
    _context_strings(context, found)
    for value in sorted(found, key=len, reverse=True):
        if value in message:
            message = message.replace(value, "…")
    return message[:200]


def _template_line(exc: BaseException) -> int | None:
    """The template line an exception was raised from (Jinja rewrites tracebacks to it)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _render(
    source: str, *, html: bool, context: dict[str, Any], template_key: str, field: str
) -> str:
    if not source:
        return ""
    try:
        return _compile(source, html).render(context)
    except RecursionError:
        problem = "too deeply nested"
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        line = getattr(exc, "lineno", None) or _template_line(exc)
        where = f"{field}, line {line}" if line else field
        problem = f"{type(exc).__name__}: {_safe_message(exc, context)}"
        raise RenderError(
            f"Template '{template_key}' ({where}) could not be rendered: {problem}"
        ) from None
    except Exception as exc:
        # Anything else should not escape the sandbox; its text may hold data, so drop it.
        problem = type(exc).__name__
    raise RenderError(f"Template '{template_key}' ({field}) could not be rendered: {problem}")


def render_message(*, template, variant, context: Mapping[str, Any]) -> RenderedMessage:
    """Render a template (or its variant) for one context of payload, subscriber and actor."""
    values = {
        "payload": context.get("payload") if context.get("payload") is not None else {},
        "subscriber": context.get("subscriber") if context.get("subscriber") is not None else {},
        "actor": context.get("actor"),
    }
    key = template.key
    html = template.channel == "email"
    subject_source, subject_field = template.subject, "subject"
    body_source, body_field = template.body, "body"
    if variant is not None:
        if variant.subject:
            subject_source, subject_field = variant.subject, f"variant '{variant.name}' subject"
        if variant.body:
            body_source, body_field = variant.body, f"variant '{variant.name}' body"

    subject = _render(
        subject_source, html=False, context=values, template_key=key, field=subject_field
    )
    body = _render(body_source, html=html, context=values, template_key=key, field=body_field)
    cta_url = _render(
        template.cta_url, html=False, context=values, template_key=key, field="cta_url"
    ).strip()
    # A subject is one line (an email header, a push title): newlines from data never split it.
    subject = " ".join(subject.split())
    payload = values["payload"]
    return RenderedMessage(
        subject=subject,
        body=body,
        text_body=html_to_text(body) if html else body,
        cta_url=cta_url,
        data=dict(payload) if isinstance(payload, Mapping) else {},
    )


# --- HTML → plain text ---------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "ul",
    }
)  # fmt: skip
_LINE_TAGS = frozenset({"li", "tr", "caption", "thead", "tbody", "tfoot"})
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})
_CELL_TAGS = frozenset({"td", "th"})
_VOID_TAGS = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.links: list[tuple[str, int]] = []  # (href, index into parts where text starts)

    # Output helpers.
    def _text(self) -> str:
        return "".join(self.parts)

    def _at_line_start(self) -> bool:
        for part in reversed(self.parts):
            if part:
                return part.endswith("\n")
        return True

    def _newlines(self, count: int) -> None:
        text = self._text()
        if not text.strip():
            return
        have = len(text) - len(text.rstrip("\n"))
        if have < count:
            # Trailing spaces before a line break are noise.
            if self.parts:
                self.parts[-1] = self.parts[-1].rstrip(" ")
            self.parts.append("\n" * (count - have))

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self._newlines(2)
            if tag == "pre":
                self.pre_depth += 1
            if tag == "hr":
                self.parts.append("---")
                self._newlines(2)
        elif tag in _LINE_TAGS:
            self._newlines(1)
            if tag == "li":
                self.parts.append("- ")
        elif tag in _CELL_TAGS:
            if not self._at_line_start():
                self.parts.append(" ")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.links.append((href, len(self.parts)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.handle_data(alt)

    def handle_startendtag(self, tag: str, attrs) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag in _BLOCK_TAGS:
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
            self._newlines(2)
        elif tag in _LINE_TAGS:
            self._newlines(1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = " ".join("".join(self.parts[start:]).split())
            if not href.lower().startswith(_LINK_SCHEMES):
                return
            shown = href[7:] if href.lower().startswith("mailto:") else href
            if not text:
                self.parts.append(shown)
            elif text.rstrip("/") not in (href.rstrip("/"), shown.rstrip("/")):
                self.parts.append(f" ({shown})")

    def handle_data(self, data: str) -> None:
        if self.skip_depth or not data:
            return
        if self.pre_depth:
            self.parts.append(data)
            return
        text = _SPACES.sub(" ", data)
        if self._at_line_start():
            text = text.lstrip(" ")
        elif text.startswith(" ") and self.parts and self.parts[-1].endswith(" "):
            text = text.lstrip(" ")
        if text:
            self.parts.append(text)


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML email: paragraphs, line breaks, `text (url)`."""
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    lines = [line.rstrip() for line in parser._text().split("\n")]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue  # at most one blank line in a row, none at the start
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
