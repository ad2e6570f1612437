"""Reads for the tenant admin's dashboard: a few aggregates, each one indexed GROUP BY."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from notifications.models import Channel, Delivery, DeliveryStatus, Notification

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
RECENT_NOTIFICATIONS = 10
# Delivery statuses that need an operator: retried (failed) or given up on (dead).
PROBLEM_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.DEAD)


@dataclass(frozen=True)
class DeliveryCounts:
    """Deliveries created since `since`: channel → status → count."""

    since: datetime
    counts: dict[str, dict[str, int]]

    @property
    def total(self) -> int:
        return sum(n for by_status in self.counts.values() for n in by_status.values())


def dashboard_delivery_counts(
    *, now: datetime | None = None
) -> tuple[DeliveryCounts, DeliveryCounts]:
    """Deliveries per channel and status created in the last 24 hours and the last 7 days.

    One GROUP BY over the week's rows (the `delivery_created_idx` range), the day counted
    with a FILTER in the same pass.
    """
    now = now or timezone.now()
    day_since, week_since = now - DAY, now - WEEK
    rows = (
        Delivery.objects.filter(created_at__gte=week_since, created_at__lte=now)
        .order_by()
        .values_list("channel", "status")
        .annotate(week=Count("id"), day=Count("id", filter=Q(created_at__gte=day_since)))
    )
    day: dict[str, dict[str, int]] = {}
    week: dict[str, dict[str, int]] = {}
    for channel, status, week_n, day_n in rows:
        week.setdefault(channel, {})[status] = week_n
        if day_n:
            day.setdefault(channel, {})[status] = day_n
    return (
        DeliveryCounts(since=day_since, counts=day),
        DeliveryCounts(since=week_since, counts=week),
    )


def dashboard_problems() -> dict[str, dict[str, int]]:
    """Failed (retrying) and dead deliveries per channel, now: the `delivery_dead_idx` rows."""
    rows = (
        Delivery.objects.filter(status__in=PROBLEM_STATUSES)
        .order_by()
        .values_list("channel", "status")
        .annotate(n=Count("id"))
    )
    result: dict[str, dict[str, int]] = {
        channel: {status: 0 for status in PROBLEM_STATUSES} for channel in Channel.values
    }
    for channel, status, n in rows:
        result.setdefault(channel, {})[status] = n
    return result


def dashboard_recent_notifications(*, limit: int = RECENT_NOTIFICATIONS) -> list[Notification]:
    """The newest notifications (the `notification_created_idx` order)."""
    return list(
        Notification.objects.order_by("-created_at").only(
            "id", "event", "status", "priority", "created_at"
        )[:limit]
    )
