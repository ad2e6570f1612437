"""The sweeper: PostgreSQL is the source of truth, broker messages are hints.

Run per tenant schema by a beat task. It claims, with `FOR UPDATE SKIP LOCKED` (so several
sweepers never take the same rows), and re-enqueues:
- accepted / processing notifications whose process message is older than the re-dispatch
  window (a flushed Redis, a killed worker, a broker that was down when they were accepted);
- pending / failed deliveries that are due (delays, digest windows, retries with backoff);
- queued deliveries whose send message is older than the re-dispatch window;
- sending deliveries whose lease ran out (the worker died mid-call): retried with the same
  idempotency key.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.pipeline.dispatch import deliveries_dispatch, notification_dispatch
from notifications.pipeline.state import (
    deliveries_claim_due,
    deliveries_claim_lost,
    notifications_claim_stale,
)


def sweep_notifications(*, now, limit: int) -> int:
    """Re-enqueue processing of notifications whose broker message was presumably lost."""
    rows = notifications_claim_stale(now=now, limit=limit)
    for notification_id, priority in rows:
        notification_dispatch(notification_id=notification_id, priority=priority)
    return len(rows)


def sweep_due_deliveries(*, now, limit: int) -> int:
    """pending / failed deliveries whose time has come → queued, and enqueued."""
    rows = deliveries_claim_due(now=now, limit=limit)
    deliveries_dispatch(rows=rows)
    return len(rows)


def sweep_lost_deliveries(*, now, limit: int) -> int:
    """Queued deliveries whose message is long overdue, and sending ones with lapsed leases."""
    rows = deliveries_claim_lost(now=now, limit=limit)
    deliveries_dispatch(rows=rows)
    return len(rows)


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
