"""The history feed: delivery events → webhook messages and outcome counters.

Every status move writes a `DeliveryEvent` row in the same statement (see
`notifications.pipeline.state`), so the history is the complete, ordered record of outcomes,
and reading it never touches the send path. A periodic task reads it per tenant in batches,
past a stored cursor, and in one transaction with advancing that cursor writes one
`WebhookMessage` per (endpoint, event) — unique on both, so exactly once from our side.

NOTE: ids come from a sequence, and concurrent transactions commit out of id order: a reader
paging by id alone would skip a row whose transaction commits after a higher id was read.
Each history row therefore records its writing transaction's id (`xact`, a database default),
and the feed pages by `(xact, id)`, reading only rows whose transaction is older than the
oldest one still running (`pg_snapshot_xmin(pg_current_snapshot())`). Every such transaction
has committed or aborted, and any row not yet visible belongs to a transaction at or past
that horizon, hence past the cursor. The price: an open transaction anywhere in the cluster
holds events back until it ends (a few milliseconds normally).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import (
    FeedCursor,
    WebhookEndpoint,
    WebhookMessage,
)
from notifications.models.feedback import WEBHOOK_EVENT_STATUSES
from notifications.pipeline.state import DELIVERY_TABLE, NOTIFICATION_TABLE
from platform_core.observability import DELIVERY_OUTCOMES, DELIVERY_SEND_LATENCY

logger = logging.getLogger(__name__)

FEED_NAME = "delivery-events"
_EVENT_TABLE = "notifications_deliveryevent"
# Outcomes counted in `clarion_deliveries_total`.
COUNTED = ("sent", "delivered", "opened", "clicked", "bounced", "failed", "dead", "skipped")
_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


@dataclass(frozen=True)
class HistoryRow:
    event_id: int
    xact: int
    delivery_id: int
    from_status: str
    status: str
    created_at: object
    attempt: int
    provider: str
    error_class: str
    response_code: int | None
    detail: str
    channel: str
    subscriber_ref: str | None
    template_key: str
    variant: str
    notification_id: object
    event: str
    delivery_created_at: object


def _cursor() -> FeedCursor | None:
    """The feed's cursor, locked (None if another feed of this tenant holds it).

    Created at the current horizon: history from before the feed existed is not replayed.
    """
    cursor = FeedCursor.objects.select_for_update(skip_locked=True).filter(name=FEED_NAME).first()
    if cursor is not None:
        return cursor
    with connection.cursor() as sql:
        sql.execute(f"SELECT {_HORIZON}")
        horizon = sql.fetchone()[0]
    FeedCursor.objects.get_or_create(name=FEED_NAME, defaults={"xact": horizon, "event_id": 0})
    return FeedCursor.objects.select_for_update(skip_locked=True).filter(name=FEED_NAME).first()


def _read(cursor: FeedCursor, limit: int) -> list[HistoryRow]:
    with connection.cursor() as sql:
        sql.execute(
            f"""
            SELECT e.id, e.xact, e.delivery_id, e.from_status, e.status, e.created_at,
                   e.attempt, e.provider, e.error_class, e.provider_response_code, e.detail,
                   d.channel, d.subscriber_ref, d.template_key, d.variant, d.notification_id,
                   n.event, d.created_at
            FROM {_EVENT_TABLE} e
            JOIN {DELIVERY_TABLE} d ON d.id = e.delivery_id
            JOIN {NOTIFICATION_TABLE} n ON n.id = d.notification_id
            WHERE (e.xact, e.id) > (%(xact)s, %(id)s) AND e.xact < {_HORIZON}
            ORDER BY e.xact, e.id
            LIMIT %(limit)s
            """,
            {"xact": cursor.xact, "id": cursor.event_id, "limit": limit},
        )
        return [HistoryRow(*row) for row in sql.fetchall()]


def _is_outcome(row: HistoryRow) -> bool:
    """A move into an outcome status (self-moves and waiting states are not events)."""
    return row.status in WEBHOOK_EVENT_STATUSES and row.status != row.from_status


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def event_document(row: HistoryRow) -> dict:
    """The JSON document an endpoint receives for one delivery event (Standard Webhooks'
    recommended envelope: `type`, `timestamp`, `data`)."""
    return {
        "type": f"delivery.{row.status}",
        "timestamp": _iso(row.created_at),
        "data": {
            "delivery_id": row.delivery_id,
            "notification_id": str(row.notification_id),
            "event": row.event,
            "subscriber_id": row.subscriber_ref,
            "channel": row.channel,
            "status": row.status,
            "previous_status": row.from_status,
            "template": row.template_key,
            "variant": row.variant,
            "provider": row.provider,
            "attempt": row.attempt,
            "error_class": row.error_class,
            "response_code": row.response_code,
            "detail": row.detail,
            "occurred_at": _iso(row.created_at),
        },
    }


def feed_run(*, limit: int | None = None, max_batches: int | None = None) -> dict[str, int]:
    """Read the current tenant's new history in batches; store the webhook messages it owes.

    Each batch commits on its own with the cursor. Returns counts of rows read and messages
    created.
    """
    limit = limit or settings.WEBHOOK_FEED_BATCH_SIZE
    max_batches = max_batches or settings.WEBHOOK_FEED_MAX_BATCHES
    totals: Counter[str] = Counter()
    for _ in range(max_batches):
        outcomes: Counter[tuple[str, str]] = Counter()
        latencies: list[tuple[str, float]] = []
        with transaction.atomic():
            cursor = _cursor()
            if cursor is None:
                break
            rows = _read(cursor, limit)
            if not rows:
                break
            endpoints = list(WebhookEndpoint.objects.filter(active=True))
            messages = []
            now = timezone.now()
            for row in rows:
                if not _is_outcome(row):
                    continue
                outcomes[(row.channel, row.status)] += 1
                if row.status == "sent":
                    latencies.append(
                        (row.channel, (row.created_at - row.delivery_created_at).total_seconds())
                    )
                event_type = f"delivery.{row.status}"
                document = None
                for endpoint in endpoints:
                    if event_type not in endpoint.events or row.created_at < endpoint.created_at:
                        continue
                    document = document or event_document(row)
                    messages.append(
                        WebhookMessage(
                            endpoint=endpoint,
                            event_id=row.event_id,
                            event_type=event_type,
                            payload=document,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
            if messages:
                WebhookMessage.objects.bulk_create(messages, ignore_conflicts=True)
            last = rows[-1]
            cursor.xact, cursor.event_id, cursor.updated_at = last.xact, last.event_id, now
            cursor.save(update_fields=["xact", "event_id", "updated_at"])
        # Counted once the batch (and its cursor) committed.
        for (channel, status), n in outcomes.items():
            DELIVERY_OUTCOMES.labels(channel=channel, outcome=status).inc(n)
        for channel, seconds in latencies:
            DELIVERY_SEND_LATENCY.labels(channel=channel).observe(max(seconds, 0.0))
        totals["read"] += len(rows)
        totals["messages"] += len(messages)
        if len(rows) < limit:
            break
    return dict(totals)
