"""The moves of a notification: claimed for fan-out, processed, failed, re-dispatched."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications.models import Notification, NotificationStatus, Route
from notifications.pipeline.state.sql import DETAIL_MAX, NOTIFICATION_TABLE

N = NotificationStatus

# Written out rather than built by the ORM: a single-recipient event's whole fan-out costs
# about as much as compiling these queries.
_CLAIM_SQL = f"""
WITH claimed AS (
    UPDATE {NOTIFICATION_TABLE}
    SET status = %(processing)s, dispatched_at = %(now)s, attempts = attempts + %(attempt)s
    WHERE id = %(id)s AND status = ANY(%(open)s::text[])
    RETURNING *
)
SELECT claimed.*, route.max_attempts AS route_max_attempts
FROM claimed LEFT JOIN {Route._meta.db_table} route ON route.id = claimed.route_id
"""
_PROCESSED_SQL = f"""
UPDATE {NOTIFICATION_TABLE} SET status = %s, processed_at = %s WHERE id = %s AND status = %s
"""


def notification_claim(*, notification_id, first_attempt: bool) -> Notification | None:
    """accepted / processing → processing (fan-out under way), counting an attempt when
    `first_attempt` (not a continuation): the notification as claimed, with its route's
    `route_max_attempts` (None without a route), in one statement; None if already done."""
    params = {
        "processing": N.PROCESSING,
        "now": timezone.now(),
        "attempt": int(first_attempt),
        "id": notification_id,
        "open": [N.ACCEPTED, N.PROCESSING],
    }
    claimed = list(Notification.objects.raw(_CLAIM_SQL, params))
    return claimed[0] if claimed else None


def notification_mark_processed(*, notification_id) -> None:
    """processing → processed: every recipient has its deliveries."""
    with connection.cursor() as cursor:
        cursor.execute(_PROCESSED_SQL, [N.PROCESSED, timezone.now(), notification_id, N.PROCESSING])


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
