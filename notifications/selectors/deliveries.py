"""Reads of notifications, deliveries and their history."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from notifications.models import Delivery, DeliveryStatus, Notification, Priority, Suppression
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


# What is still to be done, written as the predicates of the partial indexes that hold it
# (Delivery.Meta): PostgreSQL reads it as one bitmap scan per index (a BitmapOr), never the
# whole delivery history. `failed` is in two of them; a row is counted once all the same.
BACKLOG_FILTER = (
    Q(status__in=["pending", "failed"])
    | Q(status="queued")
    | Q(status="sending")
    | Q(status__in=["dead", "failed"])
)


def delivery_counts_by_priority(*, backlog_only: bool = False) -> dict[str, dict[str, int]]:
    """priority → status → count, for the queue statistics (of the backlog only, if asked)."""
    queryset = Delivery.objects.all()
    if backlog_only:
        queryset = queryset.filter(BACKLOG_FILTER)
    rows = (
        queryset.values_list("priority", "status")
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


def broker_backlog() -> dict[str, int | None]:
    """Messages waiting in each broker queue (all tenants); empty when the broker is down."""
    from django.conf import settings

    from platform_core.broker import queue_depths
    from platform_core.celery import app

    try:
        with app.connection_for_read() as conn:
            return queue_depths(conn, settings.CELERY_QUEUE_NAMES)
    except Exception:  # noqa: BLE001 - the broker being down must not break the stats
        return {}


def queue_stats(*, completed: bool = True) -> dict[str, dict[str, int | None]]:
    """Per priority queue: waiting, active, scheduled, completed, failed, dead, broker_backlog.

    Without `completed`, only the backlog's statuses are counted (their partial indexes, not
    every delivery the tenant ever had) and `completed` is None.
    """
    counts = delivery_counts_by_priority(backlog_only=not completed)
    backlog = broker_backlog()
    result = {}
    for priority in Priority.values:
        by_status = counts.get(priority, {})
        result[priority] = {
            "waiting": by_status.get(DeliveryStatus.QUEUED, 0),
            "active": by_status.get(DeliveryStatus.SENDING, 0),
            "scheduled": by_status.get(DeliveryStatus.PENDING, 0)
            + by_status.get(DeliveryStatus.FAILED, 0),
            "completed": sum(by_status.get(s, 0) for s in COMPLETED_STATUSES)
            if completed
            else None,
            "failed": by_status.get(DeliveryStatus.FAILED, 0),
            "dead": by_status.get(DeliveryStatus.DEAD, 0),
            "broker_backlog": backlog.get(priority),
        }
    return result
