"""Save-time checks of a template (API and admin): it parses, uses only what it may, and
stays within the render limits.

The limits are checked by a trial render of each source with blank data (every value empty,
every list empty) under one time budget for the whole save: whatever the template does with
its own constants — `{{ 'a'|center(999999999) }}`, a loop over `'x' * 100000` nested in
another — runs there and is refused with the limit it broke. What depends on real data is
bounded again at each send.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes

from notifications.models import Channel
from notifications.rendering.limits import Budget, RenderLimitExceeded
from notifications.rendering.links import link_source_errors
from notifications.rendering.mjml import MJML, MjmlError, mjml_to_html
from notifications.rendering.render import limit_message, template_line
from notifications.rendering.sandbox import compile_template, environment, render_chunks

# The only top-level names a template can use.
CONTEXT_NAMES = frozenset({"payload", "subscriber", "actor"})
CHANNELS = tuple(Channel.values)
_NAMES_CACHE_SIZE = 2048


@lru_cache(maxsize=_NAMES_CACHE_SIZE)
def referenced_names(source: str) -> frozenset[str] | None:
    """Top-level names a source references; None when it does not parse."""
    try:
        return frozenset(meta.find_undeclared_variables(environment(html=False).parse(source)))
    except (TemplateSyntaxError, RecursionError):
        return None


class _Blank:
    """Blank data for the trial render: every attribute, item and call is blank again; it
    prints as nothing, iterates as nothing, is false, zero and less than nothing."""

    unsafe_callable = False
    alters_data = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def __str__(self) -> str:
        return ""

    def __format__(self, spec: str) -> str:
        return ""

    def __html__(self) -> str:
        return ""

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0

    def __contains__(self, item: Any) -> bool:
        return False

    def __eq__(self, other: Any) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)

    def _false(self, other: Any) -> bool:
        return False

    def _same(self, *args: Any) -> Any:
        return self

    __lt__ = __le__ = __gt__ = __ge__ = _false
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _same
    __mod__ = __rmod__ = __pow__ = __rpow__ = __neg__ = __pos__ = _same


_BLANK = _Blank()
_BLANK_CONTEXT = {"payload": _BLANK, "subscriber": _BLANK, "actor": _BLANK}


@dataclass
class _SaveCheck:
    """The trial renders of one save: one clock for all of its sources."""

    channel: str
    deadline: float = dataclass_field(default_factory=lambda: time.monotonic() + Budget().seconds)
    over_limit: set[str] = dataclass_field(default_factory=set)

    def errors(self, source: str, *, html: bool, name: str) -> list[str]:
        """The limit a trial render of `source` with blank data goes over, if any."""
        template = compile_template(source, html)
        budget = Budget(channel=self.channel, seconds=max(0.0, self.deadline - time.monotonic()))
        try:
            render_chunks(template, dict(_BLANK_CONTEXT), budget)
        except RenderLimitExceeded as exc:
            self.over_limit.add(name)
            line = template_line(exc)
            where = f"Line {line}: " if line else ""
            return [f"{where}Over a render limit: {limit_message(exc)}."]
        except RecursionError:
            self.over_limit.add(name)
            return ["The template recurses too deeply (a macro calling itself without end?)."]
        except Exception:  # noqa: BLE001, S110
            # Blank data can fail where real data does not; only the limits matter here.
            pass
        return []


def _source_errors(
    source: str, *, html: bool, check: _SaveCheck | None = None, name: str = ""
) -> list[str]:
    """Problems with one template source, each a sentence naming the line where it can."""
    if not source:
        return []
    env = environment(html=html)
    try:
        ast = env.parse(source)
        # Walks the code generator: also fails on unknown filters and tests.
        unknown = sorted(meta.find_undeclared_variables(ast) - CONTEXT_NAMES)
    except TemplateSyntaxError as exc:
        return [f"Line {exc.lineno}: {exc.message}"]
    except RecursionError:
        return ["Line 1: the template is nested too deeply."]
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
            compile_template(source, html)
        except TemplateSyntaxError as exc:
            errors.append(f"Line {exc.lineno}: {exc.message}")
    if not errors and check is not None:
        errors = check.errors(source, html=html, name=name)
    return errors


@dataclass
class TemplateCheck:
    """The problems with a template: field → messages, and the fields over a render limit."""

    errors: dict[str, list[str]]
    over_limit: set[str]
    # Fields whose MJML does not compile.
    mjml_invalid: set[str] = dataclass_field(default_factory=set)


def template_check(
    *,
    channel: str,
    subject: str,
    body: str,
    cta_url: str = "",
    variants: Iterable[Mapping[str, Any]] = (),
    format: str = "",
) -> TemplateCheck:
    """Every problem with a template and its variants, render limits included; an MJML body
    is checked as the HTML it compiles to."""
    errors: dict[str, list[str]] = {}
    variants = list(variants)
    html = channel == Channel.EMAIL
    check = _SaveCheck(channel=channel if channel in CHANNELS else "")
    mjml_invalid: set[str] = set()

    def body_html(field: str, text: str) -> str:
        if format != MJML or not html or not (text or "").strip():
            return text
        try:
            return mjml_to_html(text)
        except MjmlError as exc:
            mjml_invalid.add(field)
            add(field, [f"MJML could not be compiled: {exc}"])
            return ""

    def add(field: str, messages: list[str]) -> None:
        if messages:
            errors.setdefault(field, []).extend(messages)

    def source(field: str, text: str, *, html: bool) -> None:
        add(field, _source_errors(text or "", html=html, check=check, name=field))

    if channel not in CHANNELS:
        add("channel", [f"Unknown channel; use one of {', '.join(CHANNELS)}."])
    source("subject", subject, html=False)
    if format == MJML and not html:
        add("format", ["Only email templates can be MJML."])
    source("body", body_html("body", body), html=html)
    source("cta_url", cta_url, html=False)
    add("cta_url", link_source_errors(cta_url or ""))
    for index, variant in enumerate(variants):
        source(f"variants.{index}.subject", variant.get("subject") or "", html=False)
        field = f"variants.{index}.body"
        source(field, body_html(field, variant.get("body") or ""), html=html)

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
    return TemplateCheck(errors=errors, over_limit=check.over_limit, mjml_invalid=mjml_invalid)


def template_errors(
    *,
    channel: str,
    subject: str,
    body: str,
    cta_url: str = "",
    variants: Iterable[Mapping[str, Any]] = (),
    format: str = "",
) -> dict[str, list[str]]:
    """Field → messages for every problem with a template and its variants; {} when valid."""
    return template_check(
        channel=channel,
        subject=subject,
        body=body,
        cta_url=cta_url,
        variants=variants,
        format=format,
    ).errors


def template_uses_subscriber(*sources: str) -> bool:
    """True if any source references `subscriber` (then it is rendered per recipient)."""
    for source in sources:
        if not source:
            continue
        names = referenced_names(source)
        # A source that does not parse is rendered per recipient, to fail there visibly.
        if names is None or "subscriber" in names:
            return True
    return False


@lru_cache(maxsize=_NAMES_CACHE_SIZE)
def payload_fields(source: str) -> frozenset[str]:
    """The top-level payload keys a source reads (`payload.x`, `payload['x']`); none when it
    does not parse."""
    try:
        tree = environment(html=False).parse(source)
    except (TemplateSyntaxError, RecursionError):
        return frozenset()
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == "payload"):
            continue
        if isinstance(node, nodes.Getattr):
            found.add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.add(node.arg.value)
    return frozenset(found)
