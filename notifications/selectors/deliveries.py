"""Reads of notifications, deliveries and their history."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from notifications.models import Delivery, DeliveryStatus, Notification, Suppression
from notifications.pipeline.feedback.provider import normalized_address

NOTIFICATION_DELIVERIES_SHOWN = 100


def notification_get(*, notification_id) -> Notification:
    return Notification.objects.get(pk=notification_id)


def notification_stats(*, notification: Notification) -> dict[str, int]:
    """`{"total": n, "<status>": n, ...}` over all of its deliveries, however many."""
    counts = dict(
        Delivery.objects.filter(notification=notification)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {"total": sum(counts.values()), **counts}


def notification_first_deliveries(*, notification: Notification) -> list[Delivery]:
    return list(
        Delivery.objects.filter(notification=notification).order_by("id")[
            :NOTIFICATION_DELIVERIES_SHOWN
        ]
    )


def notification_list(
    *, event: str | None = None, status: str | None = None, subscriber_id: str | None = None
) -> QuerySet[Notification]:
    queryset = Notification.objects.all()
    if event:
        queryset = queryset.filter(event=event)
    if status:
        queryset = queryset.filter(status=status)
    if subscriber_id:
        queryset = queryset.filter(
            pk__in=Delivery.objects.filter(subscriber__subscriber_id=subscriber_id).values(
                "notification_id"
            )
        )
    return queryset


def delivery_list(
    *,
    notification_id=None,
    status: str | None = None,
    channel: str | None = None,
    subscriber_id: str | None = None,
) -> QuerySet[Delivery]:
    queryset = Delivery.objects.all()
    if notification_id:
        queryset = queryset.filter(notification_id=notification_id)
    if status:
        queryset = queryset.filter(status=status)
    if channel:
        queryset = queryset.filter(channel=channel)
    if subscriber_id:
        queryset = queryset.filter(subscriber__subscriber_id=subscriber_id)
    return queryset


def delivery_get(*, delivery_id: int) -> Delivery:
    return Delivery.objects.prefetch_related("events").get(pk=delivery_id)


def delivery_counts_by_priority() -> dict[str, dict[str, int]]:
    """priority → status → count, for the queue statistics."""
    rows = (
        Delivery.objects.values_list("priority", "status")
        .annotate(n=Count("id"))
        .values_list("priority", "status", "n")
        .order_by()
    )
    result: dict[str, dict[str, int]] = {}
    for priority, status, n in rows:
        result.setdefault(priority, {})[status] = n
    return result


COMPLETED_STATUSES = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.OPENED,
    DeliveryStatus.CLICKED,
)


def suppression_list(*, channel: str | None = None, address: str | None = None):
    """Suppressed addresses, newest first; `address` matched as suppressions store it."""
    queryset = Suppression.objects.order_by("-id")
    if channel:
        queryset = queryset.filter(channel=channel)
    if address:
        if channel:
            queryset = queryset.filter(address=normalized_address(channel, address))
        else:
            queryset = queryset.filter(address__iexact=address.strip())
    return queryset
