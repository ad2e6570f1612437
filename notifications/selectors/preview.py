"""Template preview: a template rendered for one subscriber exactly as a send renders it —
the same choice of locale and A/B variant, the same context, the same render — sending and
writing nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from connectors.base import RenderedMessage
from notifications.models import Subscriber
from notifications.rendering import (
    RenderError,
    choose_variant,
    render_context,
    render_message,
    subscriber_context,
    subscriber_context_from_row,
    template_for,
)
from notifications.selectors.config import templates_for_key
from platform_core.errors import ApplicationError, ErrorKind, validation_error

# The name the A/B results give the base template; as a `variant`, it previews the base.
CONTROL = "control"


@dataclass(frozen=True)
class TemplatePreview:
    message: RenderedMessage
    channel: str
    locale: str
    variant: str


def _person(value: str | Mapping[str, Any] | None, *, field: str) -> dict[str, Any]:
    """What a template sees for a subscriber given by id (stored) or inline (merged over
    the stored one, as a trigger's upsert would)."""
    if value is None:
        return subscriber_context_from_row({})
    subscriber_id = value if isinstance(value, str) else value.get("subscriber_id") or ""
    stored = Subscriber.objects.filter(subscriber_id=subscriber_id).first()
    if isinstance(value, str):
        if stored is None:
            raise validation_error({field: [f"No subscriber '{subscriber_id}'."]})
        return subscriber_context(stored)
    context = subscriber_context(stored) if stored is not None else {}
    return subscriber_context_from_row({**context, **value})


def template_preview(
    *,
    key: str,
    payload: Mapping[str, Any] | None = None,
    subscriber: str | Mapping[str, Any] | None = None,
    actor: str | Mapping[str, Any] | None = None,
    locale: str | None = None,
    variant: str | None = None,
) -> TemplatePreview:
    """Render template `key` for `subscriber` (an id or an inline subscriber) as a send would;
    `locale` and `variant` override what the subscriber would get."""
    templates = list(templates_for_key(key=key))
    if not templates:
        raise ApplicationError("not_found", f"No template '{key}'.", kind=ErrorKind.NOT_FOUND)
    recipient = _person(
        subscriber, field="subscriber_id" if isinstance(subscriber, str) else "subscriber"
    )
    sender = _person(actor, field="actor") if actor is not None else None
    try:
        template = template_for(
            templates,
            template_key=key,
            channel=None,
            locale=locale or recipient["locale"],
            default_locale=settings.CLARION_DEFAULT_LOCALE,
        )
    except RenderError as exc:
        raise validation_error({"locale": [str(exc)]}) from None
    variants = list(template.variants.all())
    if variant is None:
        chosen = choose_variant(
            template_key=template.key,
            subscriber_id=recipient["subscriber_id"],
            variants=variants,
        )
    elif variant == CONTROL:
        chosen = None
    else:
        chosen = next((v for v in variants if v.name == variant), None)
        if chosen is None:
            names = ", ".join([CONTROL, *(v.name for v in variants)])
            raise validation_error({"variant": [f"No variant '{variant}'; use one of: {names}."]})
    context = render_context(payload=payload or {}, subscriber=recipient, actor=sender)
    try:
        message = render_message(template=template, variant=chosen, context=context)
    except RenderError as exc:
        raise ApplicationError(
            "render_error", str(exc), kind=ErrorKind.VALIDATION, fields={"template": [str(exc)]}
        ) from None
    return TemplatePreview(
        message=message,
        channel=template.channel,
        locale=template.locale,
        variant=chosen.name if chosen is not None else CONTROL,
    )
