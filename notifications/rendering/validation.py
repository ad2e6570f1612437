"""Save-time checks of a template (API and admin): it parses, and uses only what it may."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes

from notifications.models import Channel
from notifications.rendering.links import link_source_errors
from notifications.rendering.sandbox import compile_template, environment

# The only top-level names a template can use.
CONTEXT_NAMES = frozenset({"payload", "subscriber", "actor"})
CHANNELS = tuple(Channel.values)
_NAMES_CACHE_SIZE = 2048


@lru_cache(maxsize=_NAMES_CACHE_SIZE)
def referenced_names(source: str) -> frozenset[str] | None:
    """Top-level names a source references; None when it does not parse."""
    try:
        return frozenset(meta.find_undeclared_variables(environment(html=False).parse(source)))
    except TemplateSyntaxError:
        return None


def _source_errors(source: str, *, html: bool) -> list[str]:
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
    html = channel == Channel.EMAIL

    def add(field: str, messages: list[str]) -> None:
        if messages:
            errors.setdefault(field, []).extend(messages)

    if channel not in CHANNELS:
        add("channel", [f"Unknown channel; use one of {', '.join(CHANNELS)}."])
    add("subject", _source_errors(subject or "", html=False))
    add("body", _source_errors(body or "", html=html))
    add("cta_url", _source_errors(cta_url or "", html=False))
    add("cta_url", link_source_errors(cta_url or ""))
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
        names = referenced_names(source)
        # A source that does not parse is rendered per recipient, to fail there visibly.
        if names is None or "subscriber" in names:
            return True
    return False
