"""The moves of a notification: claimed for fan-out, processed, failed, re-dispatched."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications.models import Notification, NotificationStatus
from notifications.pipeline.state.sql import DETAIL_MAX, NOTIFICATION_TABLE

N = NotificationStatus


def notification_claim(*, notification_id) -> bool:
    """accepted / processing → processing (fan-out under way); False if already done."""
    return bool(
        Notification.objects.filter(
            pk=notification_id, status__in=[N.ACCEPTED, N.PROCESSING]
        ).update(status=N.PROCESSING, dispatched_at=timezone.now())
    )


def notification_mark_processed(*, notification_id) -> None:
    """processing → processed: every recipient has its deliveries."""
    Notification.objects.filter(pk=notification_id, status=N.PROCESSING).update(
        status=N.PROCESSED, processed_at=timezone.now()
    )


def notification_mark_failed(*, notification_id, error: str) -> None:
    """processing → failed: the notification cannot be fanned out."""
    Notification.objects.filter(pk=notification_id, status=N.PROCESSING).update(
        status=N.FAILED, last_error=error[:DETAIL_MAX], processed_at=timezone.now()
    )


def notifications_claim_stale(*, now: datetime, limit: int) -> list[tuple]:
    """Unfinished notifications whose process message is presumed lost: (id, priority) each.

    Their `dispatched_at` moves to now, so the next sweep waits another window.
    """
    stale = now - timedelta(seconds=settings.DELIVERY_REDISPATCH_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH due AS (
                SELECT id FROM {NOTIFICATION_TABLE}
                WHERE status = ANY(%(open)s::text[]) AND dispatched_at < %(stale)s
                ORDER BY dispatched_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
            )
            UPDATE {NOTIFICATION_TABLE} n SET dispatched_at = %(now)s
            FROM due WHERE n.id = due.id
            RETURNING n.id, n.priority
            """,
            {"open": [N.ACCEPTED, N.PROCESSING], "stale": stale, "limit": limit, "now": now},
        )
        return cursor.fetchall()
