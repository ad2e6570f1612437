"""The statements that move deliveries: each a conditional update with its history rows.

Every move is an `UPDATE ... FROM (<candidates> FOR UPDATE)` whose `RETURNING` rows feed the
history insert in the same statement, so a move and its history are written together or not
at all, and two workers racing for one delivery can never both win. The candidates are the
given ids (`deliveries_move`) or the rows a condition picks (`deliveries_move_where`, for the
sweeper's claims). Each checks its move against the table in `moves` before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from notifications.models import Delivery, DeliveryEvent, Notification
from notifications.pipeline.state.moves import NEW, S, check_move
from platform_core.db_backend.prepared import run_prepared

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
EVENT_KEY_MAX = 255


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
    candidates: str | None,
    to_status: str,
    set_values: Mapping[str, object],
    row_columns: Sequence[str],
    count_attempt: bool,
    returning: Sequence[str],
) -> str:
    """UPDATE the candidate rows to `to_status` and append their history, in one statement.

    `candidates` is a SELECT of `id, status AS old_status` (and the `row_columns`, per row)
    that locks the rows it picks; the history row records each row's own from-status, and
    a per-row `detail` or `error_class` where given. Without `candidates`, the one row
    `%(id)s` moves if it is in `%(from_status)s` — the plain statement a send makes twice per
    delivery, cheaper to plan.
    """
    assignments = ["status = %(to_status)s", "updated_at = %(now)s"]
    assignments += [f"{column} = %(v_{column})s" for column in set_values]
    assignments += [f"{c} = c.{c}" for c in row_columns if c not in HISTORY_ONLY]
    if count_attempt:
        assignments.append("attempts = d.attempts + 1")
    carried = [c for c in HISTORY_ONLY if c in row_columns]
    history = {c: (f"m.{c}" if c in carried else f"%(e_{c})s") for c in HISTORY_ONLY}
    returned = ", ".join(f"m.{column}" for column in returning)
    if candidates is None:
        update = f"""
            UPDATE {DELIVERY_TABLE} d SET {", ".join(assignments)}
            WHERE d.id = %(id)s AND d.status = %(from_status)s
            RETURNING d.*, %(from_status)s::text AS old_status
        """
    else:
        update = f"""
            UPDATE {DELIVERY_TABLE} d SET {", ".join(assignments)}
            FROM c WHERE d.id = c.id
            RETURNING d.*, c.old_status{"".join(f", c.{col}" for col in carried)}
        """
    return f"""
        WITH {f"c AS ({candidates})," if candidates is not None else ""}
        moved AS ({update}), history AS (
            INSERT INTO {EVENT_TABLE} ({", ".join(EVENT_COLUMNS)})
            SELECT m.id, %(now)s::timestamptz, m.old_status, %(to_status)s::text, m.attempts,
                   %(e_provider)s::text, {history["error_class"]}::text,
                   %(e_response_code)s::integer, LEFT({history["detail"]}::text, {DETAIL_MAX}),
                   %(e_duration_ms)s::integer
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
    # Prepared: binding a chunk's id array on the client costs more than the statement.
    return run_prepared(sql, params)


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


_ROW_TYPES = {"max_attempts": "integer", "attempts": "integer", "next_attempt_at": "timestamptz"}


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
    check_move([from_status], to_status)
    set_values = dict(set_values or {})
    params = _params(to_status, set_values, event, timezone.now())
    params.update(id=delivery_id, from_status=from_status)
    sql = _move_sql(
        candidates=None,
        to_status=to_status,
        set_values=set_values,
        row_columns=(),
        count_attempt=count_attempt,
        returning=returning,
    )
    rows = run_prepared(sql, params)
    return dict(zip(returning, rows[0], strict=True)) if rows else None


def deliveries_move_where(
    *,
    where: str,
    params: Mapping[str, object],
    from_statuses: Sequence[str],
    to_status: str,
    set_values: Mapping[str, object] | None = None,
    event: Event = Event(),
    order_by: str = "id",
    limit: int | None = None,
    returning: Sequence[str] = ("id",),
) -> list[tuple]:
    """Move the deliveries in `from_statuses` that `where` picks (on alias `t`), skipping rows
    another transaction holds; at most `limit`, taken in `order_by` order."""
    check_move(from_statuses, to_status)
    set_values = dict(set_values or {})
    candidates = f"""
        SELECT t.id, t.status AS old_status FROM {DELIVERY_TABLE} t
        WHERE t.status = ANY(%(from_statuses)s::text[]) AND ({where})
        ORDER BY t.{order_by}{" LIMIT %(limit)s" if limit is not None else ""}
        FOR UPDATE OF t SKIP LOCKED
    """
    sql_params = _params(to_status, set_values, event, timezone.now())
    sql_params.update(params, from_statuses=[str(s) for s in from_statuses], limit=limit)
    sql = _move_sql(
        candidates=candidates,
        to_status=to_status,
        set_values=set_values,
        row_columns=(),
        count_attempt=False,
        returning=returning,
    )
    return _run(sql, sql_params)


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
    workflow_version: int | None = None,
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
                 provider_message_id, digest_key, workflow_version, created_at, updated_at)
            SELECT %(s_notification)s, c.subscriber_id, c.subscriber_ref, %(s_step)s,
                   %(s_channel)s, %(s_template)s, '', '', %(s_priority)s,
                   CASE WHEN c.skip_reason IS NOT NULL THEN %(s_skipped)s ELSE %(s_waiting)s END,
                   0, %(s_max_attempts)s,
                   CASE WHEN c.skip_reason IS NULL THEN %(s_due)s::timestamptz END,
                   CASE WHEN %(s_due)s::timestamptz IS NULL THEN %(s_now)s::timestamptz END,
                   COALESCE(c.skip_reason, ''), '', '', %(s_digest_key)s, %(s_version)s::integer,
                   %(s_now)s, %(s_now)s
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
            "s_version": workflow_version,
            "s_now": now,
            "s_digest_key": digest_key,
        },
    )


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


def deliveries_record(
    records: Sequence[tuple[int, str, str]],
    *,
    to_status: str | None,
    from_statuses: Sequence[str],
    provider: str = "",
) -> list[tuple[int, str, str]]:
    """Record an event once per delivery, moving it to `to_status` if it is in `from_statuses`.

    `records` are (delivery id, event key, detail), each delivery at most once. A delivery in
    another status, or any delivery when `to_status` is None, gets the history row without a
    status change (its from- and to-status alike). An event key a delivery has recorded
    already changes nothing (a provider's replay); the unique index settles two racing
    replays. Returns (id, old status, new status) of each delivery that recorded the event.
    """
    if to_status is not None:
        check_move(from_statuses, to_status)
    if not records:
        return []
    ids = [pk for pk, _, _ in records]
    if len(set(ids)) != len(ids):
        raise ValueError("each delivery may be recorded once per statement")
    sql = f"""
        WITH c AS (
            SELECT t.id, t.status AS old_status, t.attempts, v.event_key, v.detail,
                   CASE WHEN t.status = ANY(%(from_statuses)s::text[])
                        THEN %(to_status)s::text ELSE t.status END AS new_status
            FROM unnest(%(ids)s::bigint[], %(keys)s::text[], %(details)s::text[])
                 AS v(id, event_key, detail)
            JOIN {DELIVERY_TABLE} t ON t.id = v.id
            WHERE NOT EXISTS (
                SELECT 1 FROM {EVENT_TABLE} e
                WHERE e.delivery_id = t.id AND e.provider_event_id = v.event_key
            )
            FOR UPDATE OF t
        ), moved AS (
            UPDATE {DELIVERY_TABLE} d SET status = c.new_status, updated_at = %(now)s
            FROM c WHERE d.id = c.id AND c.new_status <> c.old_status
            RETURNING d.id
        ), history AS (
            INSERT INTO {EVENT_TABLE} ({", ".join(EVENT_COLUMNS)}, provider_event_id)
            SELECT c.id, %(now)s, c.old_status, c.new_status, c.attempts, %(provider)s, '',
                   NULL, LEFT(c.detail, {DETAIL_MAX}), NULL, c.event_key
            FROM c
            ON CONFLICT (delivery_id, provider_event_id) WHERE provider_event_id <> ''
            DO NOTHING
            RETURNING delivery_id
        )
        SELECT c.id, c.old_status, c.new_status FROM c JOIN history h ON h.delivery_id = c.id
        ORDER BY c.id
    """
    return _run(
        sql,
        {
            "ids": ids,
            "keys": [key[:EVENT_KEY_MAX] for _, key, _ in records],
            "details": [detail[:DETAIL_MAX] for _, _, detail in records],
            "to_status": to_status,
            "from_statuses": [str(s) for s in from_statuses] if to_status else [],
            "provider": provider[:64],
            "now": timezone.now(),
        },
    )
