"""The in-app channel: a database channel, sent exactly once per transaction.

A whole batch is claimed (row locks), rendered and written as inbox messages with its history
in one transaction: a redelivered message or a sweeper re-dispatch finds nothing left to send.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction
from django.utils import timezone

from notifications.models import Channel, DeliveryStatus, InboxMessage, Notification
from notifications.rendering import RenderError
from notifications.services.deliveries import DELIVERY_TABLE, EventRow, copy_rows, events_append
from notifications.services.sending.common import (
    Renderer,
    condition_unmet,
    payload_with_digest,
    unread_conditions,
)

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


def send_in_app(delivery_ids: Sequence[int]) -> dict:
    """Claim, render and write a batch of in-app messages in one transaction."""
    now = timezone.now()
    conditions = unread_conditions(delivery_ids)
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
            if condition_unmet(
                notification_id=notification_id,
                subscriber_pk=subscriber_pk,
                unread_step=conditions.get(pk),
            ):
                skipped.append((pk, "condition not met: in-app message already read"))
                continue
            notification = notifications[notification_id]
            payload, merged = payload_with_digest(
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
