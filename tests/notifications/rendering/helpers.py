"""Stand-ins for Template and TemplateVariant rows, and a one-line render."""

from __future__ import annotations

from types import SimpleNamespace

from notifications.rendering import render_message


def template(**fields) -> SimpleNamespace:
    defaults = {"key": "order-shipped", "channel": "sms", "subject": "", "body": "", "cta_url": ""}
    return SimpleNamespace(**{**defaults, **fields})


def variant(name: str, weight: int = 1, subject: str = "", body: str = "") -> SimpleNamespace:
    return SimpleNamespace(name=name, weight=weight, subject=subject, body=body)


def render(body: str, context: dict | None = None, **fields):
    return render_message(template=template(body=body, **fields), variant=None, context=context)
