"""Rendering a batch of deliveries: what a template sees as `subscriber`, and the batch cache.

A batch loads each template key once, and renders a template that does not mention
`subscriber` once per notification and variant instead of once per recipient.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from connectors.base import RenderedMessage
from notifications.models import Notification, Template, TemplateVariant
from notifications.rendering.render import RenderError, render_message
from notifications.rendering.selection import choose_variant, select_template
from notifications.rendering.validation import template_uses_subscriber
from platform_core.db_backend.prepared import model_columns, prepared_instances

# What a template sees as `subscriber`: these fields of the Subscriber model (also its column
# names), in this order.
SUBSCRIBER_FIELDS = (
    "subscriber_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "data",
)


def _context(
    subscriber_id, email, phone, first_name, last_name, locale, tz, data
) -> dict[str, Any]:
    # Spelled out rather than looped over SUBSCRIBER_FIELDS: this runs once per recipient of
    # a fan-out, and the loop costs several times as much.
    return {
        "subscriber_id": subscriber_id or "",
        "email": email or "",
        "phone": phone or "",
        "first_name": first_name or "",
        "last_name": last_name or "",
        "locale": locale or "",
        "timezone": tz or "",
        "data": data if type(data) is dict else dict(data) if isinstance(data, Mapping) else {},
    }


def subscriber_context(subscriber) -> dict[str, Any]:
    """What a template sees as `subscriber`, from a Subscriber."""
    return _context(*(getattr(subscriber, name) for name in SUBSCRIBER_FIELDS))


def _json_data(text: str) -> Any:
    """A raw cursor returns `data` (jsonb) as its JSON text."""
    if text == "{}":
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return None


def subscriber_context_from_row(row: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """What a template sees as `subscriber`, from a mapping or a row in SUBSCRIBER_FIELDS order."""
    if isinstance(row, (tuple, list)):
        values = list(row)
    else:
        values = [row.get(name) for name in SUBSCRIBER_FIELDS]
    if isinstance(values[-1], str):
        values[-1] = _json_data(values[-1])
    return _context(*values)


def template_for(
    templates: Sequence[Template],
    *,
    template_key: str,
    channel: str | None,
    locale: str,
    default_locale: str,
) -> Template:
    """The locale of a template key a recipient gets; RenderError if there is none or it is
    for another channel than `channel` (None: any)."""
    template = select_template(templates, locale, default_locale)
    if template is None:
        raise RenderError(f"template '{template_key}' does not exist")
    if channel is not None and template.channel != channel:
        raise RenderError(f"template '{template.key}' is for {template.channel}, not {channel}")
    return template


_TEMPLATES_SQL = (
    f"SELECT {model_columns(Template, 't')} FROM {Template._meta.db_table} t "
    "WHERE t.key = %(key)s ORDER BY t.locale"
)
_VARIANTS_SQL = (
    f"SELECT {model_columns(TemplateVariant, 'v')} FROM {TemplateVariant._meta.db_table} v "
    "WHERE v.template_id = ANY(%(ids)s::bigint[]) ORDER BY v.id"
)


def render_context(
    *, payload: Any, subscriber: Mapping[str, Any], actor: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What a template is rendered with: the event's payload, the recipient, the actor."""
    return {"payload": payload, "subscriber": subscriber, "actor": actor or {}}


@dataclass
class Renderer:
    """Renders the deliveries of one batch.

    Each template key (all locales, with variants) is loaded once. A template that does not
    mention `subscriber` renders the same for everyone with the same variant, so it is
    rendered once per notification and variant, not once per recipient — and a failure to
    render it is kept too, so a template over its time budget costs the batch that time once.
    """

    default_locale: str = field(default_factory=lambda: settings.CLARION_DEFAULT_LOCALE)
    _templates: dict[str, list[Template]] = field(default_factory=dict)
    _personal: dict[int, bool] = field(default_factory=dict)
    _variants: dict[int, list] = field(default_factory=dict)
    _shared: dict[tuple, RenderedMessage | RenderError] = field(default_factory=dict)

    def templates(self, key: str) -> list[Template]:
        """Every locale of a template key, with its variants (loaded once per batch, in two
        prepared statements)."""
        if key not in self._templates:
            templates = prepared_instances(Template, _TEMPLATES_SQL, {"key": key})
            variants: dict[int, list[TemplateVariant]] = {t.pk: [] for t in templates}
            if templates:
                ids = list(variants)
                for variant in prepared_instances(TemplateVariant, _VARIANTS_SQL, {"ids": ids}):
                    variants[variant.template_id].append(variant)
            self._variants.update(variants)
            self._templates[key] = templates
        return self._templates[key]

    def _is_personal(self, template: Template, variants: list) -> bool:
        if template.pk not in self._personal:
            sources = [template.subject, template.body, template.cta_url]
            sources += [part for v in variants for part in (v.subject, v.body)]
            self._personal[template.pk] = template_uses_subscriber(*sources)
        return self._personal[template.pk]

    def render(
        self,
        *,
        template_key: str,
        channel: str,
        notification: Notification,
        subscriber: Mapping[str, Any],
        payload: dict,
        shareable: bool = True,
    ) -> tuple[RenderedMessage, str]:
        """The message for one recipient and the name of the A/B variant used ('' if none)."""
        templates = self.templates(template_key)
        template = template_for(
            templates,
            template_key=template_key,
            channel=channel,
            locale=subscriber.get("locale") or "",
            default_locale=self.default_locale,
        )
        if template.pk not in self._variants:
            self._variants[template.pk] = list(template.variants.all())
        variants = self._variants[template.pk]
        variant = choose_variant(
            template_key=template.key,
            subscriber_id=subscriber.get("subscriber_id") or "",
            variants=variants,
        )
        name = variant.name if variant else ""
        cache_key = None
        if shareable and not self._is_personal(template, variants):
            cache_key = (template.pk, name, notification.pk)
            if cache_key in self._shared:
                shared = self._shared[cache_key]
                if isinstance(shared, RenderError):
                    raise type(shared)(str(shared))
                return shared, name
        context = render_context(payload=payload, subscriber=subscriber, actor=notification.actor)
        try:
            message = render_message(template=template, variant=variant, context=context)
        except RenderError as exc:
            if cache_key is not None:
                self._shared[cache_key] = exc
            raise
        if cache_key is not None:
            self._shared[cache_key] = message
        return message, name
