"""Sending a batch of deliveries of one channel.

In-app is a database channel: a whole batch is claimed, rendered and written as inbox
messages in one transaction, so it happens exactly once. Every other channel claims each
delivery with a conditional update (queued → sending, with a lease) and commits before the
provider call, so a redelivered message or a sweeper re-dispatch can never send it twice; the
provider gets a stable idempotency key; the outcome is recorded at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from connectors.base import (
    Connector,
    PermanentError,
    Recipient,
    RenderedMessage,
    TransientError,
)
from connectors.registry import build_connector
from notifications.circuit import circuit_is_open, circuit_record_failure, circuit_record_success
from notifications.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    InboxMessage,
    Integration,
    Notification,
    Subscriber,
    Template,
)
from notifications.rendering import (
    RenderError,
    choose_variant,
    render_message,
    select_template,
    subscriber_context,
    template_uses_subscriber,
)
from notifications.selectors.config import integration_list_active
from notifications.services.deliveries import (
    DELIVERY_TABLE,
    EventRow,
    copy_rows,
    delivery_claim,
    delivery_mark_failed,
    delivery_mark_sent,
    delivery_release,
    delivery_skip,
    events_append,
    send_tasks_enqueue,
)

logger = logging.getLogger(__name__)


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


def _payload_with_digest(
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


def _condition_unmet(
    *, notification_id, subscriber_pk: int | None, unread_step: int | None
) -> bool:
    """A send step conditioned on an earlier in-app message being unread: was it read?"""
    if unread_step is None:
        return False
    return InboxMessage.objects.filter(
        delivery__notification_id=notification_id,
        delivery__step_index=unread_step,
        subscriber_id=subscriber_pk,
        read_at__isnull=False,
    ).exists()


def _unread_conditions(delivery_ids: Sequence[int]) -> dict[int, int | None]:
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


def deliveries_send(*, delivery_ids: Sequence[int], channel: str) -> dict:
    """Send a batch of deliveries of one channel; returns counts by outcome."""
    if channel == Channel.IN_APP:
        return _send_in_app(delivery_ids)
    return _send_via_providers(delivery_ids, channel)


# Claims a batch (row locks, held to the end of the transaction) with what rendering needs.
_IN_APP_CLAIM = f"""
    SELECT d.id, d.notification_id, d.subscriber_id, d.template_key, d.digest_key, d.attempts,
           s.subscriber_id, s.email, s.phone, s.first_name, s.last_name, s.locale, s.timezone,
           s.data
    FROM {DELIVERY_TABLE} d
    LEFT JOIN notifications_subscriber s ON s.id = d.subscriber_id
    WHERE d.id = ANY(%s::bigint[]) AND d.status = 'queued'
    ORDER BY d.id
    FOR UPDATE OF d SKIP LOCKED
"""
_INBOX_COLUMNS = ("subscriber_id", "delivery_id", "notification_id", "title", "body", "cta_url",
                  "created_at")  # fmt: skip


def _send_in_app(delivery_ids: Sequence[int]) -> dict:
    """Claim, render and write a batch of in-app messages in one transaction."""
    now = timezone.now()
    conditions = _unread_conditions(delivery_ids)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_IN_APP_CLAIM, [list(delivery_ids)])
            claimed = cursor.fetchall()
        if not claimed:
            return {"sent": 0}
        notifications = {
            n.pk: n for n in Notification.objects.filter(pk__in={row[1] for row in claimed})
        }
        renderer = Renderer()
        inbox, sent, dead, skipped = [], [], [], []
        absorbed: set[int] = set()  # merged into a digest sent earlier in this batch
        for (
            pk,
            notification_id,
            subscriber_pk,
            template_key,
            digest_key,
            attempts,
            *person,
        ) in claimed:
            if pk in absorbed:
                continue
            if subscriber_pk is None:
                skipped.append((pk, "subscriber was erased"))
                continue
            if _condition_unmet(
                notification_id=notification_id,
                subscriber_pk=subscriber_pk,
                unread_step=conditions.get(pk),
            ):
                skipped.append((pk, "condition not met: in-app message already read"))
                continue
            notification = notifications[notification_id]
            payload, merged = _payload_with_digest(
                delivery_id=pk,
                subscriber_pk=subscriber_pk,
                digest_key=digest_key,
                notification=notification,
            )
            absorbed |= merged
            try:
                message, variant = renderer.render(
                    template_key=template_key,
                    channel=Channel.IN_APP,
                    notification=notification,
                    subscriber=_subscriber_row_context(person),
                    payload=payload,
                    shareable=not merged,
                )
            except RenderError as exc:
                dead.append((pk, attempts, exc))
                continue
            inbox.append(
                (subscriber_pk, pk, notification_id, message.subject, message.body,
                 message.cta_url, now)
            )  # fmt: skip
            sent.append((pk, attempts, variant))
        copy_rows(InboxMessage._meta.db_table, _INBOX_COLUMNS, inbox)
        _finish_in_app(now, sent, dead, skipped)
    return {"sent": len(sent), "dead": len(dead), "skipped": len(skipped)}


def _subscriber_row_context(person: Sequence) -> dict:
    subscriber_id, email, phone, first_name, last_name, locale, tz, data = person
    return {
        "subscriber_id": subscriber_id,
        "email": email or "",
        "phone": phone or "",
        "first_name": first_name or "",
        "last_name": last_name or "",
        "locale": locale or "",
        "timezone": tz or "",
        "data": data if isinstance(data, dict) else {},
    }


def _finish_in_app(now, sent, dead, skipped) -> None:
    """Record the batch's outcomes: one UPDATE per outcome, one COPY of history."""
    with connection.cursor() as cursor:
        if sent:
            cursor.execute(
                f"""
                UPDATE {DELIVERY_TABLE} d
                SET status = 'sent', attempts = d.attempts + 1, sent_at = %s, updated_at = %s,
                    provider = 'in_app', variant = v.variant
                FROM unnest(%s::bigint[], %s::text[]) AS v(id, variant)
                WHERE d.id = v.id
                """,
                [now, now, [pk for pk, _, _ in sent], [variant for _, _, variant in sent]],
            )
        for pk, _attempts, exc in dead:
            cursor.execute(
                f"""
                UPDATE {DELIVERY_TABLE} SET status = 'dead', attempts = attempts + 1,
                    updated_at = %s, provider = 'in_app', last_error = %s, last_error_class = %s
                WHERE id = %s
                """,
                [now, str(exc)[:1000], type(exc).__name__, pk],
            )
        for pk, reason in skipped:
            cursor.execute(
                f"UPDATE {DELIVERY_TABLE} SET status = 'skipped', updated_at = %s, "
                f"last_error = %s WHERE id = %s",
                [now, reason, pk],
            )
    events_append(
        [
            EventRow(pk, DeliveryStatus.QUEUED, DeliveryStatus.SENT, attempt=attempts + 1,
                     provider="in_app")
            for pk, attempts, _ in sent
        ]
        + [
            EventRow(pk, DeliveryStatus.QUEUED, DeliveryStatus.DEAD, attempt=attempts + 1,
                     provider="in_app", error_class=type(exc).__name__, detail=str(exc))
            for pk, attempts, exc in dead
        ]
        + [
            EventRow(pk, DeliveryStatus.QUEUED, DeliveryStatus.SKIPPED, detail=reason)
            for pk, reason in skipped
        ],
        at=now,
    )  # fmt: skip


@dataclass
class ProviderPool:
    """The channel's active integrations, primary first; connectors and sessions built lazily."""

    integrations: list[Integration]
    stack: ExitStack
    _sessions: dict[int, Connector] = field(default_factory=dict)

    def candidates(self, attempt: int) -> list[Integration]:
        """Integrations to try for this attempt: rotate on retries so failover happens."""
        if not self.integrations:
            return []
        start = (max(attempt, 1) - 1) % len(self.integrations)
        return self.integrations[start:] + self.integrations[:start]

    def session(self, integration: Integration) -> Connector:
        if integration.pk not in self._sessions:
            connector = build_connector(
                integration.provider, integration.settings, integration.credentials
            )
            self._sessions[integration.pk] = self.stack.enter_context(connector.session())
        return self._sessions[integration.pk]


def _recipient(delivery: Delivery, connector: Connector) -> Recipient:
    subscriber = delivery.subscriber
    credentials = {}
    if connector.credentials_key:
        credentials = (subscriber.credentials or {}).get(connector.credentials_key) or {}
    return Recipient(
        subscriber_id=subscriber.subscriber_id,
        email=subscriber.email,
        phone=subscriber.phone,
        locale=subscriber.locale,
        credentials=credentials,
    )


def _send_via_providers(delivery_ids: Sequence[int], channel: str) -> dict:
    counts = {"sent": 0, "failed": 0, "dead": 0, "skipped": 0, "deferred": 0, "handed_back": 0}
    started = time.monotonic()
    schema = connection.schema_name
    conditions = _unread_conditions(delivery_ids)
    notifications: dict = {}
    renderer = Renderer()
    subscribers = Subscriber.objects.in_bulk(
        list(
            Delivery.objects.filter(
                pk__in=list(delivery_ids), subscriber__isnull=False
            ).values_list("subscriber_id", flat=True)
        )
    )
    with ExitStack() as stack:
        pool = ProviderPool(
            integrations=list(integration_list_active(channel=channel)), stack=stack
        )
        for position, delivery_id in enumerate(delivery_ids):
            if time.monotonic() - started > settings.SEND_BATCH_TIME_BUDGET_SECONDS:
                # A slow provider must not hold this worker: hand the rest to a new task.
                rest = list(delivery_ids[position:])
                rows = Delivery.objects.filter(pk__in=rest, status=DeliveryStatus.QUEUED)
                with transaction.atomic():
                    send_tasks_enqueue(rows=rows.values_list("pk", "channel", "priority"))
                counts["handed_back"] = len(rest)
                break
            delivery = delivery_claim(delivery_id=delivery_id)
            if delivery is None:
                continue
            delivery.subscriber = subscribers.get(delivery.subscriber_id)
            outcome = _send_one(
                delivery, channel, pool, renderer, notifications, conditions, schema
            )
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _send_one(delivery, channel, pool, renderer, notifications, conditions, schema) -> str:
    """Render and send one claimed delivery; returns the outcome for the batch counts."""
    if delivery.subscriber is None:
        delivery_skip(
            delivery=delivery, from_status=DeliveryStatus.SENDING, detail="subscriber was erased"
        )
        return "skipped"
    if _condition_unmet(
        notification_id=delivery.notification_id,
        subscriber_pk=delivery.subscriber_id,
        unread_step=conditions.get(delivery.pk),
    ):
        delivery_skip(
            delivery=delivery,
            from_status=DeliveryStatus.SENDING,
            detail="condition not met: in-app message already read",
        )
        return "skipped"
    notification = notifications.get(delivery.notification_id)
    if notification is None:
        notification = notifications[delivery.notification_id] = Notification.objects.get(
            pk=delivery.notification_id
        )
    candidates = pool.candidates(delivery.attempts)
    if not candidates:
        delivery_mark_failed(
            delivery=delivery,
            error=ConfigurationError(f"no active {channel} integration is configured"),
            permanent=True,
        )
        return "dead"
    integration = next((i for i in candidates if not circuit_is_open(integration_id=i.pk)), None)
    if integration is None:
        delivery_release(
            delivery=delivery,
            detail="every provider's circuit is open; waiting",
            delay_seconds=settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS,
        )
        return "deferred"
    variant = ""
    try:
        payload, merged = _payload_with_digest(
            delivery_id=delivery.pk,
            subscriber_pk=delivery.subscriber_id,
            digest_key=delivery.digest_key,
            notification=notification,
        )
        message, variant = renderer.render(
            template_key=delivery.template_key,
            channel=channel,
            notification=notification,
            subscriber=subscriber_context(delivery.subscriber),
            payload=payload,
            shareable=not merged,
        )
        connector = pool.session(integration)
        recipient = _recipient(delivery, connector)
    except (RenderError, PermanentError, ValueError) as exc:
        delivery_mark_failed(
            delivery=delivery,
            error=exc,
            permanent=True,
            provider=integration.provider,
            integration_id=integration.pk,
            variant=variant,
        )
        return "dead"
    except TransientError as exc:
        return _transient(delivery, exc, integration, variant, None)
    call_started = time.monotonic()
    try:
        result = connector.send(message, recipient, idempotency_key=f"{schema}-{delivery.pk}")
    except TransientError as exc:
        return _transient(delivery, exc, integration, variant, call_started)
    except PermanentError as exc:
        delivery_mark_failed(
            delivery=delivery,
            error=exc,
            permanent=True,
            provider=integration.provider,
            integration_id=integration.pk,
            response_code=exc.response_code,
            duration_ms=_ms(call_started),
            variant=variant,
        )
        return "dead"
    circuit_record_success(integration_id=integration.pk)
    delivery_mark_sent(
        delivery=delivery,
        provider=integration.provider,
        integration_id=integration.pk,
        provider_message_id=result.provider_message_id,
        response_code=result.response_code,
        variant=variant,
        duration_ms=_ms(call_started),
    )
    return "sent"


def _transient(delivery, exc: TransientError, integration, variant, call_started) -> str:
    if circuit_record_failure(integration_id=integration.pk):
        logger.warning(
            "circuit opened for integration",
            extra={"integration_id": integration.pk, "provider": integration.provider},
        )
    status = delivery_mark_failed(
        delivery=delivery,
        error=exc,
        permanent=False,
        provider=integration.provider,
        integration_id=integration.pk,
        response_code=exc.response_code,
        retry_after=exc.retry_after,
        duration_ms=_ms(call_started) if call_started else None,
        variant=variant,
    )
    return "dead" if status == DeliveryStatus.DEAD else "failed"


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
