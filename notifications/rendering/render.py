"""Rendering one message: a template (or its variant) and a context → a RenderedMessage.

Email HTML bodies are autoescaped; subjects, URLs and plain-text bodies are not (they are not
HTML). A failure raises RenderError, whose message names the template and the line, never the
data it was rendered with.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateError

from connectors.base import RenderedMessage
from notifications.models import Channel
from notifications.rendering.limits import Budget, RenderLimitExceeded
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


def _render(
    source: str,
    *,
    html: bool,
    context: dict[str, Any],
    template_key: str,
    field: str,
    budget: Budget,
) -> str:
    if not source:
        return ""
    try:
        started = time.monotonic()
        template = compile_template(source, html)
        # Compiling (once per source and process) is not the template's own time.
        budget.pause(time.monotonic() - started)
        return render_chunks(template, context, budget)
    except RenderLimitExceeded as exc:
        line = template_line(exc)
        where = f"{field}, line {line}" if line else field
        raise RenderLimitError(
            f"Template '{template_key}' ({where}) is over a render limit: {limit_message(exc)}"
        ) from None
    except RecursionError:
        problem = "too deeply nested"
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        line = getattr(exc, "lineno", None) or template_line(exc)
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
    html = template.channel == Channel.EMAIL
    subject_source, subject_field = template.subject, "subject"
    body_source, body_field = template.body, "body"
    if variant is not None:
        if variant.subject:
            subject_source, subject_field = variant.subject, f"variant '{variant.name}' subject"
        if variant.body:
            body_source, body_field = variant.body, f"variant '{variant.name}' body"

    # One budget for the whole message: its time, and its output cap across every field.
    budget = Budget(channel=template.channel)
    subject = _render(
        subject_source,
        html=False,
        context=values,
        template_key=key,
        field=subject_field,
        budget=budget,
    )
    body = _render(
        body_source, html=html, context=values, template_key=key, field=body_field, budget=budget
    )
    cta_url = _render(
        template.cta_url,
        html=False,
        context=values,
        template_key=key,
        field="cta_url",
        budget=budget,
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
