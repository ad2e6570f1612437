"""The in-app channel: a database channel, sent exactly once per transaction.

A whole batch is claimed (row locks), rendered and written as inbox messages with its history
in one transaction: a redelivered message or a sweeper re-dispatch finds nothing left to send.
Once it commits, the new messages and their recipients' counts go to the real-time inbox
(`inbox_live`) in one Redis pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from notifications.inbox_events import EVENT_MESSAGE
from notifications.models import Channel, DeliveryStatus, InboxMessage, Notification, Subscriber
from notifications.pipeline.inbox_live import (
    inbox_events_on_commit,
    inbox_message_payload,
    inbox_watchers,
)
from notifications.pipeline.sending.prepare import BatchPreparer
from notifications.pipeline.state import deliveries_finish_locked, deliveries_lock_queued
from notifications.rendering import RenderError, subscriber_context_from_row
from notifications.rendering.batch import SUBSCRIBER_FIELDS

PROVIDER = "in_app"
# What the batch claim reads besides the delivery: the recipient, for rendering.
_CLAIM_COLUMNS = (
    "d.id, d.notification_id, d.subscriber_id, d.priority, d.template_key, d.digest_key, "
    + (", ".join(f"s.{name}" for name in SUBSCRIBER_FIELDS))
)
_CLAIM_JOINS = f"LEFT JOIN {Subscriber._meta.db_table} s ON s.id = d.subscriber_id"
_INBOX_COLUMNS = ("subscriber_id", "delivery_id", "notification_id", "title", "body", "cta_url",
                  "created_at")  # fmt: skip


def _copy_inbox(rows: list[tuple]) -> None:
    """Write the batch's inbox messages with one COPY."""
    if not rows:
        return
    with connection.cursor() as cursor:
        table = InboxMessage._meta.db_table
        columns = ", ".join(_INBOX_COLUMNS)
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _live_events(rows: list[tuple], ids: dict[int, str]) -> None:
    """The batch's messages (with the ids COPY does not return) and counts, after commit, for
    the recipients with a stream open (`ids`: subscriber pk → subscriber id): a fan-out to
    many, few of them watching, costs one Redis round trip per batch."""
    if not rows or not settings.INBOX_STREAM_ENABLED:
        return
    watching = inbox_watchers(ids.values())
    rows = [row for row in rows if ids.get(row[0]) in watching]
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT delivery_id, id FROM {InboxMessage._meta.db_table} "
            f"WHERE delivery_id = ANY(%s)",
            [[row[1] for row in rows]],
        )
        written = dict(cursor.fetchall())
    events = []
    for subscriber_pk, delivery_id, _, title, body, cta_url, created_at in rows:
        payload = inbox_message_payload(
            pk=written[delivery_id], title=title, body=body, cta_url=cta_url, created_at=created_at
        )
        events.append((ids[subscriber_pk], EVENT_MESSAGE, payload))
    inbox_events_on_commit(events, counts_for=[row[0] for row in rows])


def send_in_app(
    delivery_ids: Sequence[int], *, notifications: Mapping[object, Notification] | None = None
) -> dict:
    """Claim, render and write a batch of in-app messages in one transaction (`notifications`:
    those of the batch already read, as `deliveries_send` takes them)."""
    now = timezone.now()
    with transaction.atomic():
        claimed = deliveries_lock_queued(delivery_ids, columns=_CLAIM_COLUMNS, joins=_CLAIM_JOINS)
        if not claimed:
            return {}
        batch = BatchPreparer(
            delivery_ids=[row[0] for row in claimed],
            channel=Channel.IN_APP,
            notifications=dict(notifications or {}),
        )
        batch.load_notifications({row[1] for row in claimed})
        inbox, sent, dead, skipped, ready = [], [], [], [], []
        subscriber_ids: dict[int, str] = {}
        for row in claimed:
            reason = batch.skip_reason(delivery_id=row[0], subscriber_pk=row[2])
            if reason:
                skipped.append((row[0], reason))
            else:
                ready.append(row)
        # The batch's throttle check: one Redis round trip.
        throttled = batch.throttled([(row[0], row[2], row[1], row[3]) for row in ready])
        for pk, notification_id, subscriber_pk, _, template_key, digest_key, *person in ready:
            if pk in batch.absorbed:
                continue
            if pk in throttled:
                skipped.append((pk, throttled[pk]))
                continue
            try:
                message, variant = batch.message(
                    delivery_id=pk,
                    notification_id=notification_id,
                    subscriber_pk=subscriber_pk,
                    subscriber=subscriber_context_from_row(person),
                    template_key=template_key,
                    digest_key=digest_key,
                )
            except RenderError as exc:
                dead.append((pk, exc))
                continue
            inbox.append(
                (subscriber_pk, pk, notification_id, message.subject, message.body,
                 message.cta_url, now)
            )  # fmt: skip
            subscriber_ids[subscriber_pk] = person[0]
            sent.append((pk, variant))
        _copy_inbox(inbox)
        _live_events(inbox, subscriber_ids)
        deliveries_finish_locked(provider=PROVIDER, sent=sent, dead=dead, skipped=skipped)
    return {
        DeliveryStatus.SENT: len(sent),
        DeliveryStatus.DEAD: len(dead),
        DeliveryStatus.SKIPPED: len(skipped),
    }
