"""The moves of a notification: claimed for fan-out, processed, failed, re-dispatched."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications.models import Notification, NotificationStatus, Route
from notifications.pipeline.state.sql import DETAIL_MAX, NOTIFICATION_TABLE
from platform_core.db_backend.prepared import model_columns, prepared_instances, run_prepared

N = NotificationStatus

# Written out rather than built by the ORM, and prepared: a single-recipient event's whole
# fan-out costs about as much as compiling and planning these statements.
_CLAIM_SQL = f"""
WITH claimed AS (
    UPDATE {NOTIFICATION_TABLE}
    SET status = %(processing)s, dispatched_at = %(now)s, attempts = attempts + %(attempt)s
    WHERE id = ANY(%(ids)s::uuid[]) AND status = ANY(%(open)s::text[])
    RETURNING *
)
SELECT {model_columns(Notification, "claimed")}, route.max_attempts AS route_max_attempts
FROM claimed LEFT JOIN {Route._meta.db_table} route ON route.id = claimed.route_id
ORDER BY claimed.created_at, claimed.id
"""
_PROCESSED_SQL = f"""
UPDATE {NOTIFICATION_TABLE} SET status = %(processed)s, processed_at = %(now)s
WHERE id = ANY(%(ids)s::uuid[]) AND status = %(processing)s
RETURNING id
"""


def notifications_claim(*, notification_ids, first_attempt: bool) -> list[Notification]:
    """accepted / processing → processing (fan-out under way), counting an attempt when
    `first_attempt` (not a continuation): the notifications claimed, oldest first, each
    with its route's `route_max_attempts` (None without a route), in one statement. Those
    already done are left out."""
    params = {
        "processing": N.PROCESSING,
        "now": timezone.now(),
        "attempt": int(first_attempt),
        "ids": [str(pk) for pk in notification_ids],
        "open": [N.ACCEPTED, N.PROCESSING],
    }
    return prepared_instances(Notification, _CLAIM_SQL, params)


def notification_claim(*, notification_id, first_attempt: bool) -> Notification | None:
    """`notifications_claim` for one: the notification as claimed, or None if already done."""
    claimed = notifications_claim(notification_ids=[notification_id], first_attempt=first_attempt)
    return claimed[0] if claimed else None


def notifications_mark_processed(*, notification_ids) -> int:
    """processing → processed: every recipient of each has its deliveries; how many moved."""
    if not notification_ids:
        return 0
    params = {
        "processed": N.PROCESSED,
        "now": timezone.now(),
        "ids": [str(pk) for pk in notification_ids],
        "processing": N.PROCESSING,
    }
    return len(run_prepared(_PROCESSED_SQL, params))


def notification_mark_processed(*, notification_id) -> None:
    """`notifications_mark_processed` for one."""
    notifications_mark_processed(notification_ids=[notification_id])


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
