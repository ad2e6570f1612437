"""Delivery state changes: always conditional updates, each appended to the event log."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus, Route
from notifications.models.deliveries import REPLAYABLE_STATUSES
from platform_core.taskbase import enqueue

DELIVERY_TABLE = Delivery._meta.db_table
EVENT_TABLE = "notifications_deliveryevent"


@dataclass(frozen=True)
class EventRow:
    """One history row: a delivery moving from one status to another."""

    delivery_id: int
    from_status: str
    status: str
    attempt: int = 0
    provider: str = ""
    error_class: str = ""
    response_code: int | None = None
    detail: str = ""
    duration_ms: int | None = None


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


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Write many rows with COPY: the fastest way into PostgreSQL (tenant search_path applies)."""
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def events_append(rows: Sequence[EventRow], *, at: datetime | None = None) -> None:
    """Append history rows in one COPY."""
    if not rows:
        return
    at = at or timezone.now()
    copy_rows(
        EVENT_TABLE,
        EVENT_COLUMNS,
        (
            (
                r.delivery_id,
                at,
                r.from_status,
                r.status,
                r.attempt,
                r.provider,
                r.error_class,
                r.response_code,
                r.detail[:1000],
                r.duration_ms,
            )
            for r in rows
        ),
    )


def send_tasks_enqueue(*, rows: Iterable[tuple[int, str, str]]) -> int:
    """Enqueue send tasks for (delivery id, channel, priority) rows, batched per channel.

    Sent after the current transaction commits, on the priority's queue.
    """
    from notifications.tasks import deliveries_send_task

    grouped: dict[tuple[str, str], list[int]] = defaultdict(list)
    for delivery_id, channel, priority in rows:
        grouped[(channel, priority)].append(delivery_id)
    tasks = 0
    for (channel, priority), ids in grouped.items():
        size = settings.SEND_BATCH_SIZES.get(channel, 100)
        for start in range(0, len(ids), size):
            enqueue(deliveries_send_task, args=(ids[start : start + size], channel), queue=priority)
            tasks += 1
    return tasks


def retry_delay_seconds(*, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a provider's Retry-After is a floor."""
    cap = min(
        settings.DELIVERY_RETRY_MAX_SECONDS,
        settings.DELIVERY_RETRY_BASE_SECONDS * (2 ** max(attempt - 1, 0)),
    )
    delay = random.uniform(cap / 2, cap)
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), settings.DELIVERY_RETRY_MAX_SECONDS))
    return delay


def _transition(
    delivery_id: int,
    *,
    from_status: str,
    to_status: str,
    values: dict | None = None,
    count_attempt: bool = False,
    event: dict | None = None,
    returning: Sequence[str] = ("id", "attempts"),
) -> dict | None:
    """Move one delivery from_status → to_status and append its history row: one statement.

    The conditional UPDATE is the claim: None when the delivery was not in `from_status`.
    """
    now = timezone.now()
    values = dict(values or {})
    assignments = ["status = %(to_status)s", "updated_at = %(now)s"]
    assignments += [f"{column} = %(v_{column})s" for column in values]
    if count_attempt:
        assignments.append("attempts = attempts + 1")
    event = {"provider": "", "error_class": "", "response_code": None, "detail": "",
             "duration_ms": None, **(event or {})}  # fmt: skip
    params = {
        "id": delivery_id,
        "from_status": from_status,
        "to_status": to_status,
        "now": now,
        **{f"v_{column}": value for column, value in values.items()},
        **{f"e_{key}": value for key, value in event.items()},
    }
    params["e_detail"] = (params["e_detail"] or "")[:1000]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH moved AS (
                UPDATE {DELIVERY_TABLE} SET {", ".join(assignments)}
                WHERE id = %(id)s AND status = %(from_status)s
                RETURNING *
            ), history AS (
                INSERT INTO {EVENT_TABLE} ({", ".join(EVENT_COLUMNS)})
                SELECT id, %(now)s, %(from_status)s, %(to_status)s, attempts, %(e_provider)s,
                       %(e_error_class)s, %(e_response_code)s, %(e_detail)s, %(e_duration_ms)s
                FROM moved
            )
            SELECT {", ".join(returning)} FROM moved
            """,
            params,
        )
        row = cursor.fetchone()
    return dict(zip(returning, row, strict=True)) if row else None


DELIVERY_FIELDS = tuple(f.attname for f in Delivery._meta.concrete_fields)


def delivery_claim(*, delivery_id: int) -> Delivery | None:
    """queued → sending with a lease, committed before any provider call; None if not ours."""
    lease = timezone.now() + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    row = _transition(
        delivery_id,
        from_status=DeliveryStatus.QUEUED,
        to_status=DeliveryStatus.SENDING,
        values={"lease_until": lease},
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
    return bool(
        _transition(
            delivery.pk,
            from_status=DeliveryStatus.SENDING,
            to_status=DeliveryStatus.SENT,
            values={
                "sent_at": timezone.now(),
                "lease_until": None,
                "provider": provider,
                "integration_id": integration_id,
                "provider_message_id": provider_message_id[:255],
                "variant": variant,
                "last_error": "",
                "last_error_class": "",
            },
            event={
                "provider": provider,
                "response_code": response_code,
                "duration_ms": duration_ms,
            },
        )
    )


def delivery_mark_failed(
    *,
    delivery: Delivery,
    error: BaseException,
    permanent: bool,
    provider: str = "",
    integration_id: int | None = None,
    response_code: int | None = None,
    retry_after: float | None = None,
    duration_ms: int | None = None,
    variant: str = "",
) -> str:
    """sending → failed (retry scheduled) or dead (permanent, or attempts exhausted)."""
    exhausted = delivery.attempts >= delivery.max_attempts
    status = DeliveryStatus.DEAD if permanent or exhausted else DeliveryStatus.FAILED
    next_attempt_at = None
    if status == DeliveryStatus.FAILED:
        delay = retry_delay_seconds(attempt=delivery.attempts, retry_after=retry_after)
        next_attempt_at = timezone.now() + timedelta(seconds=delay)
    message = str(error)[:1000]
    if status == DeliveryStatus.DEAD and exhausted and not permanent:
        message = f"attempts exhausted ({delivery.attempts}): {message}"
    _transition(
        delivery.pk,
        from_status=DeliveryStatus.SENDING,
        to_status=status,
        values={
            "lease_until": None,
            "next_attempt_at": next_attempt_at,
            "last_error": message,
            "last_error_class": type(error).__name__,
            "provider": provider or delivery.provider,
            "integration_id": integration_id or delivery.integration_id,
            "variant": variant or delivery.variant,
        },
        event={
            "provider": provider,
            "error_class": type(error).__name__,
            "response_code": response_code,
            "detail": message,
            "duration_ms": duration_ms,
        },
    )
    return status


def delivery_release(*, delivery: Delivery, detail: str, delay_seconds: float) -> None:
    """sending → pending without spending an attempt (e.g. every provider's circuit is open)."""
    _transition(
        delivery.pk,
        from_status=DeliveryStatus.SENDING,
        to_status=DeliveryStatus.PENDING,
        values={
            "attempts": max(delivery.attempts - 1, 0),
            "lease_until": None,
            "next_attempt_at": timezone.now() + timedelta(seconds=delay_seconds),
        },
        event={"detail": detail},
    )


def delivery_skip(*, delivery: Delivery, from_status: str, detail: str) -> bool:
    return bool(
        _transition(
            delivery.pk,
            from_status=from_status,
            to_status=DeliveryStatus.SKIPPED,
            values={"lease_until": None, "last_error": detail},
            event={"detail": detail},
        )
    )


def deliveries_replay(*, delivery_ids: Sequence[int] | None = None, queryset=None) -> int:
    """Send dead or failed deliveries again, with a fresh attempt budget. Returns how many."""
    if queryset is None:
        queryset = Delivery.objects.filter(pk__in=list(delivery_ids or []))
    default_attempts = Route._meta.get_field("max_attempts").default
    now = timezone.now()
    replayed = 0
    with transaction.atomic():
        rows = list(
            queryset.filter(status__in=REPLAYABLE_STATUSES)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list(
                "pk",
                "status",
                "channel",
                "priority",
                "attempts",
                "notification__route__max_attempts",
            )
        )
        if not rows:
            return 0
        by_budget: dict[int, list[int]] = defaultdict(list)
        for pk, _status, _channel, _priority, attempts, route_max in rows:
            by_budget[attempts + (route_max or default_attempts)].append(pk)
        for max_attempts, ids in by_budget.items():
            replayed += Delivery.objects.filter(pk__in=ids, status__in=REPLAYABLE_STATUSES).update(
                status=DeliveryStatus.QUEUED,
                max_attempts=max_attempts,
                next_attempt_at=None,
                dispatched_at=now,
                updated_at=now,
                last_error="",
                last_error_class="",
            )
        events_append(
            [
                EventRow(pk, status, DeliveryStatus.QUEUED, attempt=attempts, detail="replayed")
                for pk, status, _c, _p, attempts, _m in rows
            ],
            at=now,
        )
        send_tasks_enqueue(
            rows=[(pk, channel, priority) for pk, _s, channel, priority, _a, _m in rows]
        )
    return replayed
