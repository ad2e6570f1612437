"""Rendering one message: a template (or its variant) and a context → a RenderedMessage.

Email HTML bodies are autoescaped; subjects, URLs and plain-text bodies are not (they are not
HTML). A failure raises RenderError, whose message names the template and the line, never the
data it was rendered with.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateError

from connectors.base import RenderedMessage
from notifications.models import Channel
from notifications.rendering.limits import Budget, RenderLimitExceeded
from notifications.rendering.links import link_error
from notifications.rendering.mjml import MJML, MjmlError, mjml_to_html
from notifications.rendering.sandbox import compile_template, render_chunks
from notifications.rendering.text import html_to_text


class RenderError(Exception):
    """A template failed at render time; the message names the template, never the data."""


class RenderLimitError(RenderError):
    """A template went over a render limit (time, size, width); the message names the limit."""


def limit_message(exc: RenderLimitExceeded) -> str:
    """The reason a render limit stopped a template, naming the setting where there is one."""
    return f"{exc.message} ({exc.limit})" if exc.limit else str(exc.message)


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


def template_line(exc: BaseException) -> int | None:
    """The template line an exception was raised from (Jinja rewrites tracebacks to it)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _failure(exc: BaseException, *, context: dict[str, Any], template_key: str, field: str):
    """The RenderError for an exception raised while compiling or rendering one field."""
    if isinstance(exc, RenderLimitExceeded):
        line = template_line(exc)
        where = f"{field}, line {line}" if line else field
        return RenderLimitError(
            f"Template '{template_key}' ({where}) is over a render limit: {limit_message(exc)}"
        )
    if isinstance(exc, RecursionError):
        problem = "too deeply nested"
    elif isinstance(exc, TemplateError | TypeError | ValueError | ArithmeticError):
        line = getattr(exc, "lineno", None) or template_line(exc)
        where = f"{field}, line {line}" if line else field
        problem = f"{type(exc).__name__}: {_safe_message(exc, context)}"
        return RenderError(f"Template '{template_key}' ({where}) could not be rendered: {problem}")
    else:
        # Anything else should not escape the sandbox; its text may hold data, so drop it.
        problem = type(exc).__name__
    return RenderError(f"Template '{template_key}' ({field}) could not be rendered: {problem}")


class _Field:
    """One field of a message to render: its source compiled (before the clock starts)."""

    __slots__ = ("compiled", "name")

    def __init__(
        self, source: str, *, html: bool, context: dict[str, Any], template_key: str, name: str
    ) -> None:
        self.name = name
        self.compiled = None
        if source:
            try:
                self.compiled = compile_template(source, html)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a RenderError
                raise _failure(
                    exc, context=context, template_key=template_key, field=name
                ) from None

    def render(self, *, context: dict[str, Any], template_key: str, budget: Budget) -> str:
        if self.compiled is None:
            return ""
        try:
            return render_chunks(self.compiled, context, budget)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a RenderError
            raise _failure(
                exc, context=context, template_key=template_key, field=self.name
            ) from None


def render_message(*, template, variant, context: Mapping[str, Any]) -> RenderedMessage:
    """Render a template (or its variant) for one context of payload, subscriber and actor."""
    values = {
        "payload": context.get("payload") if context.get("payload") is not None else {},
        "subscriber": context.get("subscriber") if context.get("subscriber") is not None else {},
        "actor": context.get("actor"),
    }
    key = template.key
    html = template.channel == Channel.EMAIL
    subject_source, subject_field = template.subject, "subject"
    body_source, body_field = template.body, "body"
    if variant is not None:
        if variant.subject:
            subject_source, subject_field = variant.subject, f"variant '{variant.name}' subject"
        if variant.body:
            body_source, body_field = variant.body, f"variant '{variant.name}' body"

    if html and getattr(template, "format", "") == MJML and body_source:
        try:
            # Compiled before rendering: see notifications.rendering.mjml.
            body_source = mjml_to_html(body_source)
        except MjmlError as exc:
            raise RenderError(f"Template '{key}' ({body_field}) is not valid MJML: {exc}") from None
    fields = [
        _Field(source, html=is_html, context=values, template_key=key, name=name)
        for source, is_html, name in (
            (subject_source, False, subject_field),
            (body_source, html, body_field),
            (template.cta_url, False, "cta_url"),
        )
    ]
    # One budget for the whole message: its time, and its output cap across every field.
    budget = Budget(channel=template.channel)
    subject, body, cta_url = (
        part.render(context=values, template_key=key, budget=budget) for part in fields
    )
    cta_url = cta_url.strip()
    if cta_url and (problem := link_error(cta_url)):
        raise RenderError(f"Template '{key}' (cta_url) could not be rendered: {problem}")
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
