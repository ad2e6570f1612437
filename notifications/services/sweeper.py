"""The sweeper: PostgreSQL is the source of truth, broker messages are hints.

Run per tenant schema by a beat task. It claims, with `FOR UPDATE SKIP LOCKED` (so several
sweepers never take the same rows), and re-enqueues:
- accepted / processing notifications whose process message is older than the re-dispatch
  window (a flushed Redis, a killed worker);
- pending / failed deliveries that are due (delays, digest windows, retries with backoff);
- queued deliveries whose send message is older than the re-dispatch window;
- sending deliveries whose lease ran out (the worker died mid-call): retried with the same
  idempotency key.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import DeliveryStatus
from notifications.services.deliveries import (
    DELIVERY_TABLE,
    EventRow,
    events_append,
    send_tasks_enqueue,
)
from platform_core.taskbase import enqueue

NOTIFICATION_TABLE = "notifications_notification"


def _claim(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def sweep_notifications(*, now, limit: int) -> int:
    """Re-enqueue processing of notifications whose broker message was presumably lost."""
    from notifications.tasks import notification_process_task

    stale = now - timedelta(seconds=settings.DELIVERY_REDISPATCH_SECONDS)
    rows = _claim(
        f"""
        WITH due AS (
            SELECT id FROM {NOTIFICATION_TABLE}
            WHERE status IN ('accepted', 'processing') AND dispatched_at < %s
            ORDER BY dispatched_at LIMIT %s FOR UPDATE SKIP LOCKED
        )
        UPDATE {NOTIFICATION_TABLE} n SET dispatched_at = %s FROM due WHERE n.id = due.id
        RETURNING n.id, n.priority
        """,
        [stale, limit, now],
    )
    for notification_id, priority in rows:
        enqueue(notification_process_task, args=(str(notification_id),), queue=priority)
    return len(rows)


def sweep_due_deliveries(*, now, limit: int) -> int:
    """pending / failed deliveries whose time has come → queued, and enqueued."""
    rows = _claim(
        f"""
        WITH due AS (
            SELECT id, status FROM {DELIVERY_TABLE}
            WHERE status IN ('pending', 'failed') AND next_attempt_at <= %s
            ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED
        )
        UPDATE {DELIVERY_TABLE} d
        SET status = 'queued', next_attempt_at = NULL, dispatched_at = %s, updated_at = %s
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.channel, d.priority, due.status, d.attempts
        """,
        [now, limit, now, now],
    )
    events_append(
        [
            EventRow(pk, old, DeliveryStatus.QUEUED, attempt=attempts, detail="due")
            for pk, _c, _p, old, attempts in rows
        ],
        at=now,
    )
    send_tasks_enqueue(rows=[(pk, channel, priority) for pk, channel, priority, _o, _a in rows])
    return len(rows)


def sweep_lost_deliveries(*, now, limit: int) -> int:
    """Queued deliveries whose message is long overdue, and sending ones with lapsed leases."""
    stale = now - timedelta(seconds=settings.DELIVERY_REDISPATCH_SECONDS)
    requeued = _claim(
        f"""
        WITH lost AS (
            SELECT id FROM {DELIVERY_TABLE}
            WHERE status = 'queued' AND dispatched_at < %s
            ORDER BY dispatched_at LIMIT %s FOR UPDATE SKIP LOCKED
        )
        UPDATE {DELIVERY_TABLE} d SET dispatched_at = %s, updated_at = %s
        FROM lost WHERE d.id = lost.id
        RETURNING d.id, d.channel, d.priority, d.attempts
        """,
        [stale, limit, now, now],
    )
    expired = _claim(
        f"""
        WITH lapsed AS (
            SELECT id FROM {DELIVERY_TABLE}
            WHERE status = 'sending' AND lease_until < %s
            ORDER BY lease_until LIMIT %s FOR UPDATE SKIP LOCKED
        )
        UPDATE {DELIVERY_TABLE} d
        SET status = 'queued', lease_until = NULL, dispatched_at = %s, updated_at = %s
        FROM lapsed WHERE d.id = lapsed.id
        RETURNING d.id, d.channel, d.priority, d.attempts
        """,
        [now, limit, now, now],
    )
    events_append(
        [
            EventRow(
                pk,
                DeliveryStatus.QUEUED,
                DeliveryStatus.QUEUED,
                attempt=a,
                detail="re-dispatched: broker message presumed lost",
            )
            for pk, _c, _p, a in requeued
        ]
        + [
            EventRow(
                pk,
                DeliveryStatus.SENDING,
                DeliveryStatus.QUEUED,
                attempt=a,
                detail="lease expired: the worker stopped mid-send; retrying with the same "
                "idempotency key",
            )
            for pk, _c, _p, a in expired
        ],
        at=now,
    )
    send_tasks_enqueue(rows=[(pk, c, p) for pk, c, p, _a in requeued + expired])
    return len(requeued) + len(expired)


def tenant_sweep() -> dict[str, int]:
    """One sweep of the current tenant schema; each part commits on its own."""
    now = timezone.now()
    limit = settings.SWEEP_BATCH_SIZE
    counts = {}
    for name, part in (
        ("notifications", sweep_notifications),
        ("due", sweep_due_deliveries),
        ("lost", sweep_lost_deliveries),
    ):
        with transaction.atomic():
            counts[name] = part(now=now, limit=limit)
    return counts
