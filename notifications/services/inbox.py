"""In-app inbox writes: reading a message also marks its delivery opened.

Each write that changes a count sends the subscriber's new `{unread, unseen}` to its
real-time inbox once it commits.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from notifications.models import InboxMessage, Subscriber
from notifications.pipeline.inbox_live import inbox_events_on_commit
from notifications.pipeline.state import deliveries_mark_opened

READ_DETAIL = "read in the inbox"


def inbox_message_mark_read(*, subscriber: Subscriber, message_id: int) -> InboxMessage:
    """Mark one message read (and seen); raises InboxMessage.DoesNotExist."""
    now = timezone.now()
    with transaction.atomic():
        message = InboxMessage.objects.select_for_update().get(pk=message_id, subscriber=subscriber)
        if message.read_at is None:
            message.read_at = now
            message.seen_at = message.seen_at or now
            message.save(update_fields=["read_at", "seen_at"])
            if message.delivery_id:
                deliveries_mark_opened(delivery_ids=[message.delivery_id], detail=READ_DETAIL)
            _counts_changed(subscriber)
    return message


def _counts_changed(subscriber: Subscriber) -> None:
    if settings.INBOX_STREAM_ENABLED:
        inbox_events_on_commit([], counts_for=[subscriber.pk])


def inbox_mark_all_read(*, subscriber: Subscriber) -> int:
    """Mark every unread message read; returns how many changed."""
    now = timezone.now()
    with transaction.atomic():
        unread = InboxMessage.objects.select_for_update().filter(
            subscriber=subscriber, read_at__isnull=True
        )
        delivery_ids = [pk for pk in unread.values_list("delivery_id", flat=True) if pk]
        changed = unread.update(read_at=now, seen_at=Coalesce("seen_at", now))
        deliveries_mark_opened(delivery_ids=delivery_ids, detail=READ_DETAIL)
        if changed:
            _counts_changed(subscriber)
    return changed


def inbox_mark_all_seen(*, subscriber: Subscriber) -> int:
    """Mark every unseen message seen (the bell was opened); returns how many changed."""
    with transaction.atomic():
        changed = InboxMessage.objects.filter(subscriber=subscriber, seen_at__isnull=True).update(
            seen_at=timezone.now()
        )
        if changed:
            _counts_changed(subscriber)
    return changed


def inbox_counts(*, subscriber: Subscriber) -> dict[str, int]:
    """Unread and unseen counts of a subscriber's inbox."""
    return InboxMessage.objects.filter(subscriber=subscriber).aggregate(
        unread=Count("id", filter=Q(read_at__isnull=True)),
        unseen=Count("id", filter=Q(seen_at__isnull=True)),
    )
