"""What every channel's sending shares: rendering a batch, digests, send conditions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.utils import timezone

from connectors.base import PermanentError, RenderedMessage
from notifications.models import DeliveryStatus, InboxMessage, Notification, Template
from notifications.rendering import (
    RenderError,
    choose_variant,
    render_message,
    select_template,
    template_uses_subscriber,
)
from notifications.services.deliveries import DELIVERY_TABLE, EventRow, events_append


class ConfigurationError(PermanentError):
    """The tenant's configuration cannot send this delivery (no integration, no template)."""


@dataclass
class Renderer:
    """Renders the deliveries of one batch.

    Each template key (all locales, with variants) is loaded once. A template that does not
    mention `subscriber` renders the same for everyone with the same variant, so it is
    rendered once per notification and variant, not once per recipient.
    """

    default_locale: str = field(default_factory=lambda: settings.CLARION_DEFAULT_LOCALE)
    _templates: dict[str, list[Template]] = field(default_factory=dict)
    _personal: dict[int, bool] = field(default_factory=dict)
    _shared: dict[tuple, RenderedMessage] = field(default_factory=dict)

    def templates(self, key: str) -> list[Template]:
        if key not in self._templates:
            self._templates[key] = list(
                Template.objects.filter(key=key).prefetch_related("variants")
            )
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
        subscriber: dict,
        payload: dict,
        shareable: bool = True,
    ) -> tuple[RenderedMessage, str]:
        """The message for one recipient and the name of the A/B variant used ('' if none)."""
        template = select_template(
            self.templates(template_key), subscriber.get("locale") or "", self.default_locale
        )
        if template is None:
            raise RenderError(f"template '{template_key}' does not exist")
        if template.channel != channel:
            raise RenderError(f"template '{template.key}' is for {template.channel}, not {channel}")
        variants = list(template.variants.all())
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
                return self._shared[cache_key], name
        context = {"payload": payload, "subscriber": subscriber, "actor": notification.actor or {}}
        message = render_message(template=template, variant=variant, context=context)
        if cache_key is not None:
            self._shared[cache_key] = message
        return message, name


def payload_with_digest(
    *, delivery_id: int, subscriber_pk: int | None, digest_key: str, notification: Notification
) -> tuple[dict, set[int]]:
    """Merge the other deliveries of this digest window into this one (they become digested).

    Returns the payload to render (with `digest.count` and `digest.events`) and the ids merged.
    """
    if not digest_key or subscriber_pk is None:
        return notification.payload, set()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {DELIVERY_TABLE} SET status = 'digested', updated_at = %s
            WHERE subscriber_id = %s AND digest_key = %s AND id <> %s
              AND status IN ('pending', 'queued') AND created_at <= %s
            RETURNING id, status, notification_id
            """,
            [now, subscriber_pk, digest_key, delivery_id, now],
        )
        merged = cursor.fetchall()
    events_append(
        [
            EventRow(pk, status, DeliveryStatus.DIGESTED, detail=f"digested into {delivery_id}")
            for pk, status, _ in merged
        ],
        at=now,
    )
    payloads = dict(
        Notification.objects.filter(pk__in=[n for _, _, n in merged]).values_list("pk", "payload")
    )
    events = [notification.payload] + [payloads[n] for _, _, n in merged if n in payloads]
    digest = {"count": len(events), "events": events}
    return {**notification.payload, "digest": digest}, {pk for pk, _, _ in merged}


def condition_unmet(*, notification_id, subscriber_pk: int | None, unread_step: int | None) -> bool:
    """A send step conditioned on an earlier in-app message being unread: was it read?"""
    if unread_step is None:
        return False
    return InboxMessage.objects.filter(
        delivery__notification_id=notification_id,
        delivery__step_index=unread_step,
        subscriber_id=subscriber_pk,
        read_at__isnull=False,
    ).exists()


def unread_conditions(delivery_ids: Sequence[int]) -> dict[int, int | None]:
    """delivery id → the in-app step index it is conditioned on (if any)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT d.id, ws.unread_step
            FROM {DELIVERY_TABLE} d
            JOIN notifications_notification n ON n.id = d.notification_id
            JOIN notifications_workflowstep ws
              ON ws.workflow_id = n.workflow_id AND ws.position = d.step_index
            WHERE d.id = ANY(%s::bigint[]) AND ws.unread_step IS NOT NULL
            """,
            [list(delivery_ids)],
        )
        return dict(cursor.fetchall())
