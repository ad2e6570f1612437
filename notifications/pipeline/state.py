"""The only code that changes the status of a delivery or a notification.

Every move is a conditional update (`... WHERE status = ANY(<from>)`) whose `RETURNING` rows
feed the history insert in the same statement, so a move and its history row are written
together or not at all, and two workers racing for one delivery can never both win. The moves
a delivery may make are the table `MOVES`; a move not in it is refused before any SQL runs.

Fan-out's bulk insert, the in-app batch finish, digests, the sweeper's claims, replay and
inbox reads all come here; no other module writes a status or spells a status value in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications.models import Delivery, DeliveryEvent, DeliveryStatus, Notification
from notifications.models.deliveries import NotificationStatus

S = DeliveryStatus
N = NotificationStatus
# The from-status of a delivery that is being created.
NEW = ""

# Which status a delivery may move to from each status. Self-moves record an event (a
# re-dispatch) without changing the status.
MOVES: dict[str, frozenset[str]] = {
    NEW: frozenset({S.PENDING, S.QUEUED, S.SKIPPED}),
    S.PENDING: frozenset({S.QUEUED, S.DIGESTED, S.SKIPPED}),
    S.QUEUED: frozenset({S.QUEUED, S.SENDING, S.SENT, S.DEAD, S.SKIPPED, S.DIGESTED}),
    S.SENDING: frozenset({S.SENT, S.FAILED, S.DEAD, S.PENDING, S.SKIPPED, S.QUEUED}),
    S.FAILED: frozenset({S.QUEUED}),
    S.DEAD: frozenset({S.QUEUED}),
    S.SENT: frozenset({S.DELIVERED, S.OPENED, S.CLICKED, S.BOUNCED}),
    S.DELIVERED: frozenset({S.OPENED, S.CLICKED, S.BOUNCED}),
    S.OPENED: frozenset({S.CLICKED}),
    S.CLICKED: frozenset(),
    S.BOUNCED: frozenset(),
    S.SKIPPED: frozenset(),
    S.DIGESTED: frozenset(),
}

# Statuses a replay may send again, and statuses an inbox read turns into `opened`.
REPLAYABLE = (S.DEAD, S.FAILED)
OPENABLE = (S.SENT, S.DELIVERED)
# Statuses the sweeper wakes when their time has come (delays, digest windows, retries).
WAITING = (S.PENDING, S.FAILED)

DELIVERY_TABLE = Delivery._meta.db_table
EVENT_TABLE = DeliveryEvent._meta.db_table
NOTIFICATION_TABLE = Notification._meta.db_table
DELIVERY_FIELDS = tuple(f.attname for f in Delivery._meta.concrete_fields)
EVENT_COLUMNS = (
    "delivery_id",
    "created_at",
    "from_status",
    "status",
    "attempt",
    "provider",
    "error_class",
    "provider_response_code",
    "detail",
    "duration_ms",
)
DETAIL_MAX = 1000


class IllegalMove(ValueError):
    """A status change that the table of moves does not allow."""


def check_move(from_statuses: Iterable[str], to_status: str) -> None:
    """Refuse a move the table does not allow; raises IllegalMove."""
    for from_status in from_statuses:
        if to_status not in MOVES.get(from_status, ()):
            raise IllegalMove(f"a delivery cannot move from {from_status or 'new'} to {to_status}")


@dataclass(frozen=True)
class Event:
    """What the history row of a move records besides the statuses."""

    provider: str = ""
    error_class: str = ""
    response_code: int | None = None
    detail: str = ""
    duration_ms: int | None = None


# Per-row values that go to the history row only, not to the delivery.
HISTORY_ONLY = ("detail", "error_class")


def _move_sql(
    *,
    candidates: str,
    to_status: str,
    set_values: Mapping[str, object],
    row_columns: Sequence[str],
    count_attempt: bool,
    returning: Sequence[str],
) -> str:
    """UPDATE the candidate rows to `to_status` and append their history, in one statement.

    `candidates` is a SELECT of `id, status AS old_status` (and the `row_columns`, per row)
    that locks the rows it picks; the history row records each row's own from-status, and
    a per-row `detail` or `error_class` where given.
    """
    assignments = ["status = %(to_status)s", "updated_at = %(now)s"]
    assignments += [f"{column} = %(v_{column})s" for column in set_values]
    assignments += [f"{c} = c.{c}" for c in row_columns if c not in HISTORY_ONLY]
    if count_attempt:
        assignments.append("attempts = d.attempts + 1")
    carried = [c for c in HISTORY_ONLY if c in row_columns]
    history = {c: (f"m.{c}" if c in carried else f"%(e_{c})s") for c in HISTORY_ONLY}
    returned = ", ".join(f"m.{column}" for column in returning)
    return f"""
        WITH c AS ({candidates}),
        moved AS (
            UPDATE {DELIVERY_TABLE} d SET {", ".join(assignments)}
            FROM c WHERE d.id = c.id
            RETURNING d.*, c.old_status{"".join(f", c.{col}" for col in carried)}
        ), history AS (
            INSERT INTO {EVENT_TABLE} ({", ".join(EVENT_COLUMNS)})
            SELECT m.id, %(now)s, m.old_status, %(to_status)s, m.attempts, %(e_provider)s,
                   {history["error_class"]}, %(e_response_code)s,
                   LEFT({history["detail"]}, {DETAIL_MAX}), %(e_duration_ms)s
            FROM moved m
        )
        SELECT {returned} FROM moved m ORDER BY m.id
    """


def _params(to_status: str, set_values: Mapping[str, object], event: Event, now) -> dict:
    return {
        "to_status": to_status,
        "now": now,
        **{f"v_{column}": value for column, value in set_values.items()},
        "e_provider": event.provider,
        "e_error_class": event.error_class,
        "e_response_code": event.response_code,
        "e_detail": (event.detail or "")[:DETAIL_MAX],
        "e_duration_ms": event.duration_ms,
    }


def _run(sql: str, params: Mapping[str, object]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def deliveries_move(
    delivery_ids: Sequence[int],
    *,
    from_statuses: Sequence[str],
    to_status: str,
    set_values: Mapping[str, object] | None = None,
    row_values: Mapping[str, Sequence] | None = None,
    count_attempt: bool = False,
    event: Event = Event(),
    returning: Sequence[str] = ("id",),
    skip_locked: bool = False,
) -> list[tuple]:
    """Move the given deliveries that are in one of `from_statuses` to `to_status`.

    `set_values` are columns set alike on every row; `row_values` are columns set per row,
    aligned with `delivery_ids` (`detail` and `error_class` there go to the history rows).
    Returns the `returning` columns of each moved row; a row in another status is left alone.
    """
    check_move(from_statuses, to_status)
    if not delivery_ids:
        return []
    set_values = dict(set_values or {})
    row_values = dict(row_values or {})
    columns = list(row_values)
    types = {column: _sql_type(column) for column in columns}
    unnest_args = ", ".join(["%(ids)s::bigint[]"] + [f"%(r_{c})s::{types[c]}[]" for c in columns])
    candidates = f"""
        SELECT t.id, t.status AS old_status{"".join(f", v.{c}" for c in columns)}
        FROM unnest({unnest_args}) AS v(id{"".join(f", {c}" for c in columns)})
        JOIN {DELIVERY_TABLE} t ON t.id = v.id
        WHERE t.status = ANY(%(from_statuses)s::text[])
        FOR UPDATE OF t{" SKIP LOCKED" if skip_locked else ""}
    """
    now = timezone.now()
    params = _params(to_status, set_values, event, now)
    params.update(ids=list(delivery_ids), from_statuses=[str(s) for s in from_statuses])
    params.update({f"r_{column}": list(values) for column, values in row_values.items()})
    sql = _move_sql(
        candidates=candidates,
        to_status=to_status,
        set_values=set_values,
        row_columns=columns,
        count_attempt=count_attempt,
        returning=returning,
    )
    return _run(sql, params)


_ROW_TYPES = {"max_attempts": "integer", "attempts": "integer"}


def _sql_type(column: str) -> str:
    return _ROW_TYPES.get(column, "text")


def delivery_move(
    delivery_id: int,
    *,
    from_status: str,
    to_status: str,
    set_values: Mapping[str, object] | None = None,
    count_attempt: bool = False,
    event: Event = Event(),
    returning: Sequence[str] = ("id", "attempts"),
) -> dict | None:
    """Move one delivery from_status → to_status; its row as a dict, or None if not moved."""
    rows = deliveries_move(
        [delivery_id],
        from_statuses=[from_status],
        to_status=to_status,
        set_values=set_values,
        count_attempt=count_attempt,
        event=event,
        returning=returning,
    )
    return dict(zip(returning, rows[0], strict=True)) if rows else None


# --- creation (fan-out) ---------------------------------------------------------------------


def deliveries_create(
    *,
    candidates_sql: str,
    params: Mapping[str, object],
    notification_id,
    step_index: int,
    channel: str,
    template_key: str,
    priority: str,
    max_attempts: int,
    digest_key: str,
    due_at: datetime | None,
) -> list[tuple[int, str]]:
    """Create one step's deliveries for a chunk of subscribers, with their first history row.

    `candidates_sql` selects `subscriber_id, subscriber_ref, skip_reason` (NULL to send); a
    delivery is `skipped` with its reason, `pending` until `due_at` when one is given, else
    `queued`. Rows that exist already (a re-run) are left alone. Returns (id, status) of new
    rows, in id order.
    """
    check_move([NEW], S.SKIPPED)
    check_move([NEW], S.PENDING if due_at else S.QUEUED)
    now = timezone.now()
    waiting = S.PENDING if due_at else S.QUEUED
    sql = f"""
        WITH inserted AS (
            INSERT INTO {DELIVERY_TABLE}
                (notification_id, subscriber_id, subscriber_ref, step_index, channel,
                 template_key, variant, provider, priority, status, attempts, max_attempts,
                 next_attempt_at, dispatched_at, last_error, last_error_class,
                 provider_message_id, digest_key, created_at, updated_at)
            SELECT %(s_notification)s, c.subscriber_id, c.subscriber_ref, %(s_step)s,
                   %(s_channel)s, %(s_template)s, '', '', %(s_priority)s,
                   CASE WHEN c.skip_reason IS NOT NULL THEN %(s_skipped)s ELSE %(s_waiting)s END,
                   0, %(s_max_attempts)s,
                   CASE WHEN c.skip_reason IS NULL THEN %(s_due)s::timestamptz END,
                   CASE WHEN %(s_due)s::timestamptz IS NULL THEN %(s_now)s::timestamptz END,
                   COALESCE(c.skip_reason, ''), '', '', %(s_digest_key)s, %(s_now)s, %(s_now)s
            FROM ({candidates_sql}) AS c
            ORDER BY c.subscriber_id
            ON CONFLICT ON CONSTRAINT delivery_once_per_step DO NOTHING
            RETURNING id, status, last_error
        ), history AS (
            INSERT INTO {EVENT_TABLE} ({", ".join(EVENT_COLUMNS)})
            SELECT id, %(s_now)s, '', status, 0, '', '', NULL, last_error, NULL FROM inserted
        )
        SELECT id, status FROM inserted ORDER BY id
    """
    return _run(
        sql,
        {
            **params,
            "s_notification": notification_id,
            "s_step": step_index,
            "s_channel": channel,
            "s_template": template_key,
            "s_priority": priority,
            "s_skipped": S.SKIPPED,
            "s_waiting": waiting,
            "s_max_attempts": max_attempts,
            "s_due": due_at,
            "s_now": now,
            "s_digest_key": digest_key,
        },
    )


# --- sending --------------------------------------------------------------------------------


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


def deliveries_lock_queued(delivery_ids: Sequence[int], *, columns: str, joins: str) -> list:
    """Lock the queued deliveries of a batch (to the end of the transaction) with `columns`.

    The database channel claims this way: its whole batch is written in one transaction,
    so the row lock is the claim.
    """
    return _run(
        f"""
        SELECT {columns} FROM {DELIVERY_TABLE} d {joins}
        WHERE d.id = ANY(%(ids)s::bigint[]) AND d.status = %(queued)s
        ORDER BY d.id
        FOR UPDATE OF d SKIP LOCKED
        """,
        {"ids": list(delivery_ids), "queued": S.QUEUED},
    )


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
    now = timezone.now()
    check_move([S.PENDING, S.QUEUED], S.DIGESTED)
    candidates = f"""
        SELECT t.id, t.status AS old_status FROM {DELIVERY_TABLE} t
        WHERE t.subscriber_id = %(subscriber)s AND t.digest_key = %(digest_key)s
          AND t.id <> %(into)s AND t.status = ANY(%(from_statuses)s::text[])
          AND t.created_at <= %(now)s
        FOR UPDATE OF t SKIP LOCKED
    """
    params = _params(S.DIGESTED, {}, Event(detail=f"digested into {delivery_id}"), now)
    params.update(
        subscriber=subscriber_pk,
        digest_key=digest_key,
        into=delivery_id,
        from_statuses=[S.PENDING, S.QUEUED],
    )
    sql = _move_sql(
        candidates=candidates,
        to_status=S.DIGESTED,
        set_values={},
        row_columns=(),
        count_attempt=False,
        returning=("id", "notification_id"),
    )
    return _run(sql, params)


# --- the sweeper, replay and feedback -------------------------------------------------------


def deliveries_claim_due(*, now: datetime, limit: int) -> list[tuple[int, str, str]]:
    """Waiting deliveries whose time has come → queued; (id, channel, priority) of each."""
    check_move(WAITING, S.QUEUED)
    candidates = f"""
        SELECT t.id, t.status AS old_status FROM {DELIVERY_TABLE} t
        WHERE t.status = ANY(%(from_statuses)s::text[]) AND t.next_attempt_at <= %(now)s
        ORDER BY t.next_attempt_at LIMIT %(limit)s
        FOR UPDATE OF t SKIP LOCKED
    """
    return _sweep(candidates, S.QUEUED, WAITING, now, limit, "due",
                  {"next_attempt_at": None, "dispatched_at": now})  # fmt: skip


def deliveries_claim_lost(*, now: datetime, limit: int) -> list[tuple[int, str, str]]:
    """Queued deliveries whose broker message is long overdue, and sending ones whose lease
    ran out (the worker stopped mid-send) → queued again; (id, channel, priority) of each.

    A lapsed lease is retried with the same idempotency key, so a provider that already
    accepted the message does not send it twice.
    """
    stale = now - timedelta(seconds=settings.DELIVERY_REDISPATCH_SECONDS)
    requeued = _sweep(
        f"""
        SELECT t.id, t.status AS old_status FROM {DELIVERY_TABLE} t
        WHERE t.status = %(queued)s AND t.dispatched_at < %(stale)s
        ORDER BY t.dispatched_at LIMIT %(limit)s
        FOR UPDATE OF t SKIP LOCKED
        """,
        S.QUEUED,
        [S.QUEUED],
        now,
        limit,
        "re-dispatched: broker message presumed lost",
        {"dispatched_at": now},
        {"queued": S.QUEUED, "stale": stale},
    )
    expired = _sweep(
        f"""
        SELECT t.id, t.status AS old_status FROM {DELIVERY_TABLE} t
        WHERE t.status = %(sending)s AND t.lease_until < %(now)s
        ORDER BY t.lease_until LIMIT %(limit)s
        FOR UPDATE OF t SKIP LOCKED
        """,
        S.QUEUED,
        [S.SENDING],
        now,
        limit,
        "lease expired: the worker stopped mid-send; retrying with the same idempotency key",
        {"lease_until": None, "dispatched_at": now},
        {"sending": S.SENDING},
    )
    return requeued + expired


def _sweep(candidates, to_status, from_statuses, now, limit, detail, set_values, extra=None):
    check_move(from_statuses, to_status)
    params = _params(to_status, set_values, Event(detail=detail), now)
    params.update(from_statuses=[str(s) for s in from_statuses], limit=limit, **(extra or {}))
    sql = _move_sql(
        candidates=candidates,
        to_status=to_status,
        set_values=set_values,
        row_columns=(),
        count_attempt=False,
        returning=("id", "channel", "priority"),
    )
    return _run(sql, params)


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


# --- notifications --------------------------------------------------------------------------


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
    return _run(
        f"""
        WITH due AS (
            SELECT id FROM {NOTIFICATION_TABLE}
            WHERE status = ANY(%(open)s::text[]) AND dispatched_at < %(stale)s
            ORDER BY dispatched_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
        )
        UPDATE {NOTIFICATION_TABLE} n SET dispatched_at = %(now)s FROM due WHERE n.id = due.id
        RETURNING n.id, n.priority
        """,
        {"open": [N.ACCEPTED, N.PROCESSING], "stale": stale, "limit": limit, "now": now},
    )
