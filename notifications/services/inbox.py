"""In-app inbox writes: reading a message also marks its delivery opened."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus, InboxMessage, Subscriber
from notifications.services.deliveries import EventRow, events_append

OPENABLE = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)


def _mark_deliveries_opened(delivery_ids: list[int], now) -> None:
    opened = list(
        Delivery.objects.filter(pk__in=delivery_ids, status__in=OPENABLE).values_list(
            "pk", "status"
        )
    )
    if not opened:
        return
    Delivery.objects.filter(pk__in=[pk for pk, _ in opened], status__in=OPENABLE).update(
        status=DeliveryStatus.OPENED, updated_at=now
    )
    events_append(
        [
            EventRow(pk, status, DeliveryStatus.OPENED, detail="read in the inbox")
            for pk, status in opened
        ],
        at=now,
    )


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
                _mark_deliveries_opened([message.delivery_id], now)
    return message


def inbox_mark_all_read(*, subscriber: Subscriber) -> int:
    """Mark every unread message read; returns how many changed."""
    now = timezone.now()
    with transaction.atomic():
        unread = InboxMessage.objects.select_for_update().filter(
            subscriber=subscriber, read_at__isnull=True
        )
        delivery_ids = [pk for pk in unread.values_list("delivery_id", flat=True) if pk]
        changed = unread.update(read_at=now, seen_at=Coalesce("seen_at", now))
        _mark_deliveries_opened(delivery_ids, now)
    return changed


def inbox_mark_all_seen(*, subscriber: Subscriber) -> int:
    """Mark every unseen message seen (the bell was opened); returns how many changed."""
    return InboxMessage.objects.filter(subscriber=subscriber, seen_at__isnull=True).update(
        seen_at=timezone.now()
    )


def inbox_counts(*, subscriber: Subscriber) -> dict[str, int]:
    from django.db.models import Count

    return InboxMessage.objects.filter(subscriber=subscriber).aggregate(
        unread=Count("id", filter=Q(read_at__isnull=True)),
        unseen=Count("id", filter=Q(seen_at__isnull=True)),
    )
