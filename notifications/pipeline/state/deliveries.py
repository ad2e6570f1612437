"""The named moves of a delivery's life: claimed, sent, failed, released, skipped, digested,
woken by the sweeper, replayed, opened, and the outcomes providers report. Each is one
statement of `sql`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from notifications.models import Delivery
from notifications.pipeline.state.moves import (
    OPENABLE,
    OUTCOME_STATUS,
    REPLAYABLE,
    WAITING,
    S,
    statuses_moving_to,
)
from notifications.pipeline.state.sql import (
    DELIVERY_FIELDS,
    DETAIL_MAX,
    Event,
    deliveries_move,
    deliveries_move_where,
    deliveries_record,
    delivery_move,
)

# What the sweeper hands to dispatch for each delivery it claims.
DISPATCH_COLUMNS = ("id", "channel", "priority")


def delivery_claim(*, delivery_id: int) -> Delivery | None:
    """queued → sending with a lease, committed before any provider call; None if not ours."""
    lease = timezone.now() + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    row = delivery_move(
        delivery_id,
        from_status=S.QUEUED,
        to_status=S.SENDING,
        set_values={"lease_until": lease},
        count_attempt=True,
        returning=DELIVERY_FIELDS,
    )
    return Delivery(**row) if row else None


def delivery_mark_sent(
    *,
    delivery: Delivery,
    provider: str,
    integration_id: int | None,
    provider_message_id: str,
    response_code: int | None,
    variant: str,
    duration_ms: int,
) -> bool:
    """sending → sent; False if the delivery was no longer ours."""
    row = delivery_move(
        delivery.pk,
        from_status=S.SENDING,
        to_status=S.SENT,
        set_values={
            "sent_at": timezone.now(),
            "lease_until": None,
            "provider": provider,
            "integration_id": integration_id,
            "provider_message_id": provider_message_id[:255],
            "variant": variant,
            "last_error": "",
            "last_error_class": "",
        },
        event=Event(provider=provider, response_code=response_code, duration_ms=duration_ms),
    )
    return row is not None


def delivery_mark_failed(
    *,
    delivery: Delivery,
    error: BaseException,
    dead: bool,
    next_attempt_at: datetime | None,
    message: str,
    provider: str = "",
    integration_id: int | None = None,
    response_code: int | None = None,
    duration_ms: int | None = None,
    variant: str = "",
) -> str:
    """sending → failed (retry at `next_attempt_at`) or dead; returns the new status."""
    status = S.DEAD if dead else S.FAILED
    delivery_move(
        delivery.pk,
        from_status=S.SENDING,
        to_status=status,
        set_values={
            "lease_until": None,
            "next_attempt_at": None if dead else next_attempt_at,
            "last_error": message[:DETAIL_MAX],
            "last_error_class": type(error).__name__,
            "provider": provider or delivery.provider,
            "integration_id": integration_id or delivery.integration_id,
            "variant": variant or delivery.variant,
        },
        event=Event(
            provider=provider,
            error_class=type(error).__name__,
            response_code=response_code,
            detail=message,
            duration_ms=duration_ms,
        ),
    )
    return status


def delivery_release(*, delivery: Delivery, detail: str, delay_seconds: float) -> None:
    """sending → pending without spending an attempt (e.g. every provider's circuit is open)."""
    delivery_move(
        delivery.pk,
        from_status=S.SENDING,
        to_status=S.PENDING,
        set_values={
            "attempts": max(delivery.attempts - 1, 0),
            "lease_until": None,
            "next_attempt_at": timezone.now() + timedelta(seconds=delay_seconds),
        },
        event=Event(detail=detail),
    )


def deliveries_hold(*, holds: Sequence[tuple[int, datetime, str]]) -> list[int]:
    """Queued deliveries not yet claimed that must wait (quiet hours, a send window, a
    provider's rate limit) → pending until their time.

    `holds` are (id, until, why); no attempt is spent; the sweeper wakes them. Returns the ids
    moved (a delivery another worker holds or has claimed is left alone).
    """
    if not holds:
        return []
    rows = deliveries_move(
        [pk for pk, _, _ in holds],
        from_statuses=[S.QUEUED],
        to_status=S.PENDING,
        set_values={"dispatched_at": None},
        row_values={
            "next_attempt_at": [until for _, until, _ in holds],
            "detail": [why for _, _, why in holds],
        },
        skip_locked=True,
    )
    return [row[0] for row in rows]


def deliveries_release_queued(
    *, delivery_ids: Sequence[int], delays: Sequence[float], detail: str
) -> list[int]:
    """Queued deliveries not yet claimed → pending, each due after its own delay (seconds)."""
    now = timezone.now()
    return deliveries_hold(
        holds=[
            (pk, now + timedelta(seconds=delay), detail)
            for pk, delay in zip(delivery_ids, delays, strict=True)
        ]
    )


def delivery_skip(*, delivery: Delivery, detail: str) -> bool:
    """A claimed delivery that will not be sent (erased subscriber, unmet condition)."""
    row = delivery_move(
        delivery.pk,
        from_status=S.SENDING,
        to_status=S.SKIPPED,
        set_values={"lease_until": None, "last_error": detail},
        event=Event(detail=detail),
    )
    return row is not None


def deliveries_finish_locked(
    *,
    provider: str,
    sent: Sequence[tuple[int, str]],
    dead: Sequence[tuple[int, BaseException]],
    skipped: Sequence[tuple[int, str]],
) -> None:
    """Record the outcomes of a locked queued batch: sent (id, variant), dead, skipped."""
    now = timezone.now()
    if sent:
        deliveries_move(
            [pk for pk, _ in sent],
            from_statuses=[S.QUEUED],
            to_status=S.SENT,
            set_values={"sent_at": now, "provider": provider},
            row_values={"variant": [variant for _, variant in sent]},
            count_attempt=True,
            event=Event(provider=provider),
        )
    if dead:
        deliveries_move(
            [pk for pk, _ in dead],
            from_statuses=[S.QUEUED],
            to_status=S.DEAD,
            set_values={"provider": provider},
            row_values={
                "last_error": [str(exc)[:DETAIL_MAX] for _, exc in dead],
                "last_error_class": [type(exc).__name__ for _, exc in dead],
                "detail": [str(exc) for _, exc in dead],
                "error_class": [type(exc).__name__ for _, exc in dead],
            },
            count_attempt=True,
            event=Event(provider=provider),
        )
    if skipped:
        deliveries_move(
            [pk for pk, _ in skipped],
            from_statuses=[S.QUEUED],
            to_status=S.SKIPPED,
            row_values={
                "last_error": [reason for _, reason in skipped],
                "detail": [reason for _, reason in skipped],
            },
        )


def deliveries_digest_into(
    *, delivery_id: int, subscriber_pk: int, digest_key: str
) -> list[tuple[int, object]]:
    """Merge the other waiting deliveries of a digest window into `delivery_id`.

    They become `digested`; returns (id, notification id) of each, in id order.
    """
    return deliveries_move_where(
        where="t.subscriber_id = %(subscriber)s AND t.digest_key = %(digest_key)s "
        "AND t.id <> %(into)s AND t.created_at <= %(now)s",
        params={"subscriber": subscriber_pk, "digest_key": digest_key, "into": delivery_id},
        from_statuses=[S.PENDING, S.QUEUED],
        to_status=S.DIGESTED,
        event=Event(detail=f"digested into {delivery_id}"),
        returning=("id", "notification_id"),
    )


def deliveries_claim_due(*, now: datetime, limit: int) -> list[tuple[int, str, str]]:
    """Waiting deliveries whose time has come → queued; (id, channel, priority) of each."""
    return deliveries_move_where(
        where="t.next_attempt_at <= %(due)s",
        params={"due": now},
        from_statuses=WAITING,
        to_status=S.QUEUED,
        set_values={"next_attempt_at": None, "dispatched_at": now},
        event=Event(detail="due"),
        order_by="next_attempt_at",
        limit=limit,
        returning=DISPATCH_COLUMNS,
    )


def deliveries_claim_lost(*, now: datetime, limit: int) -> list[tuple[int, str, str]]:
    """Queued deliveries whose broker message is long overdue, and sending ones whose lease
    ran out (the worker stopped mid-send) → queued again; (id, channel, priority) of each.

    A lapsed lease is retried with the same idempotency key, so a provider that already
    accepted the message can drop the repeat.
    """
    stale = now - timedelta(seconds=settings.DELIVERY_REDISPATCH_SECONDS)
    requeued = deliveries_move_where(
        where="t.dispatched_at < %(stale)s",
        params={"stale": stale},
        from_statuses=[S.QUEUED],
        to_status=S.QUEUED,
        set_values={"dispatched_at": now},
        event=Event(detail="re-dispatched: broker message presumed lost"),
        order_by="dispatched_at",
        limit=limit,
        returning=DISPATCH_COLUMNS,
    )
    expired = deliveries_move_where(
        where="t.lease_until < %(lapsed)s",
        params={"lapsed": now},
        from_statuses=[S.SENDING],
        to_status=S.QUEUED,
        set_values={"lease_until": None, "dispatched_at": now},
        event=Event(
            detail="lease expired: the worker stopped mid-send; retrying with the same "
            "idempotency key"
        ),
        order_by="lease_until",
        limit=limit,
        returning=DISPATCH_COLUMNS,
    )
    return requeued + expired


def deliveries_requeue(
    *, delivery_ids: Sequence[int], max_attempts: Sequence[int], detail: str
) -> list[tuple[int, str, str]]:
    """Dead or failed deliveries → queued with a new attempt budget; (id, channel, priority)."""
    now = timezone.now()
    return deliveries_move(
        delivery_ids,
        from_statuses=REPLAYABLE,
        to_status=S.QUEUED,
        set_values={
            "next_attempt_at": None,
            "dispatched_at": now,
            "last_error": "",
            "last_error_class": "",
        },
        row_values={"max_attempts": max_attempts},
        event=Event(detail=detail),
        returning=("id", "channel", "priority"),
        skip_locked=True,
    )


def deliveries_mark_opened(*, delivery_ids: Sequence[int], detail: str) -> int:
    """Sent or delivered deliveries → opened (a read in-app message); returns how many."""
    return len(
        deliveries_move(
            delivery_ids, from_statuses=OPENABLE, to_status=S.OPENED, event=Event(detail=detail)
        )
    )


def deliveries_record_outcome(
    *, outcome: str, records: Sequence[tuple[int, str, str]], provider: str = ""
) -> list[tuple[int, str, str]]:
    """What became of sent deliveries: `delivered`, `bounced` (hard), `opened`, `clicked`
    move the delivery where the table allows it; anything else, and a move it refuses (a
    late `delivered` after `clicked`), is recorded in the history without a status change.

    `records` are (delivery id, event key, detail); the event key makes a replay of the same
    provider event change nothing (see `sql.deliveries_record`). A delivery may appear more
    than once (several events of one kind): each is recorded in turn, in order. Returns
    (id, old status, new status) for each event recorded.
    """
    to_status = OUTCOME_STATUS.get(outcome)
    from_statuses = statuses_moving_to(to_status) if to_status else ()
    recorded: list[tuple[int, str, str]] = []
    pending = list(records)
    while pending:
        # One statement per round, each delivery at most once in it.
        seen: set[int] = set()
        now, later = [], []
        for record in pending:
            (later if record[0] in seen else now).append(record)
            seen.add(record[0])
        recorded += deliveries_record(
            now, to_status=to_status, from_statuses=from_statuses, provider=provider
        )
        pending = later
    return recorded


def delivery_record_outcome(
    *, delivery_id: int, outcome: str, event_key: str, detail: str, provider: str = ""
) -> tuple[str, str] | None:
    """One delivery's outcome (see `deliveries_record_outcome`): (old status, new status),
    or None when it was recorded before or there is no such delivery."""
    rows = deliveries_record_outcome(
        outcome=outcome, records=[(delivery_id, event_key, detail)], provider=provider
    )
    return (rows[0][1], rows[0][2]) if rows else None
