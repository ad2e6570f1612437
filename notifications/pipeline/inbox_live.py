"""The real-time inbox's writers: events appended to Redis once the inbox rows commit.

The send path and the inbox writes (read, read-all, seen-all) call `inbox_events_on_commit`
inside their transaction. The events of one transaction go to Redis in one pipeline after it
commits, so a stream never shows a message the database does not hold; Redis being slow or
down costs the live update (logged), never the send. Counts are read in SQL once the write
has committed (a read inside it would miss a concurrent writer's rows) and shipped in the
event, stamped with the read's time so that an older count never replaces a newer one: the
stream process has no ORM.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from notifications.inbox_events import (
    APPEND_SCRIPT,
    EVENT_COUNT,
    event_data,
    presence_key,
    stream_key,
)
from notifications.models import InboxMessage, Subscriber

logger = logging.getLogger(__name__)

# (subscriber_id, event, payload): the subscriber by its own id, as the stream URL names it.
Event = tuple[str, str, dict]

_client: redis.Redis | None = None
_append = None


def _script():
    global _client, _append
    if _append is None:
        timeout = settings.INBOX_STREAM_REDIS_TIMEOUT_SECONDS
        _client = redis.Redis.from_url(
            settings.INBOX_STREAM_REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        _append = _client.register_script(APPEND_SCRIPT)
    return _client, _append


def _timestamp(value: datetime) -> str:
    # As the inbox API (DRF) writes it: ISO 8601, UTC as `Z`.
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def inbox_message_payload(
    *, pk: int, title: str, body: str, cta_url: str, created_at: datetime
) -> dict:
    """A new message as the inbox API shows it."""
    return {
        "id": pk,
        "title": title,
        "body": body,
        "cta_url": cta_url,
        "read": False,
        "seen": False,
        "created_at": _timestamp(created_at),
    }


def inbox_counts_by_subscriber(
    subscriber_pks: Iterable[int],
) -> tuple[dict[int, tuple[str, dict]], int]:
    """Each subscriber's own id and `{unread, unseen}`, in one statement, and when that
    statement's snapshot was taken (µs since the epoch, the database's clock)."""
    pks = sorted(set(subscriber_pks))
    if not pks:
        return {}, 0
    inbox, subscribers = InboxMessage._meta.db_table, Subscriber._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, s.subscriber_id, "
            f"count(m.id) FILTER (WHERE m.read_at IS NULL), "
            f"count(m.id) FILTER (WHERE m.seen_at IS NULL), "
            f"(extract(epoch FROM statement_timestamp()) * 1000000)::bigint "
            f"FROM {subscribers} s LEFT JOIN {inbox} m ON m.subscriber_id = s.id "
            f"WHERE s.id = ANY(%s) GROUP BY s.id, s.subscriber_id",
            [pks],
        )
        rows = cursor.fetchall()
    counts = {
        pk: (subscriber_id, {"unread": unread, "unseen": unseen})
        for pk, subscriber_id, unread, unseen, _ in rows
    }
    return counts, max((row[4] for row in rows), default=0)


def inbox_watchers(subscriber_ids: Iterable[str]) -> set[str]:
    """The subscribers among these with a stream open lately (their presence key is set): one
    MGET. Only they get live events; the others see their inbox when they next open it. Empty
    when Redis fails (logged), like a failed publish."""
    ids = sorted(set(subscriber_ids))
    if not ids or not settings.INBOX_STREAM_ENABLED:
        return set()
    schema = connection.schema_name
    try:
        client, _ = _script()
        present = client.mget([presence_key(schema=schema, subscriber_id=i) for i in ids])
    except redis.RedisError as exc:
        logger.warning(
            "inbox stream presence not read; live inboxes miss this batch until they reload",
            extra={"schema": schema, "error_class": type(exc).__name__},
        )
        return set()
    return {i for i, value in zip(ids, present, strict=True) if value is not None}


def inbox_events_on_commit(events: list[Event], *, counts_for: Iterable[int] = ()) -> None:
    """Once the current transaction commits, publish `events`, then a `count` event for each
    subscriber (by pk) in `counts_for`, read then."""
    pks = list(counts_for)
    if not (events or pks) or not settings.INBOX_STREAM_ENABLED:
        return
    schema = connection.schema_name

    def publish() -> None:
        try:
            counts, as_of = inbox_counts_by_subscriber(pks)
        except DatabaseError:
            logger.warning("inbox counts not read; live inboxes show them on their next event")
            counts, as_of = {}, None
        if events:
            inbox_events_publish(schema=schema, events=events)
        if counts:
            count_events = [(sid, EVENT_COUNT, count) for sid, count in counts.values()]
            inbox_events_publish(schema=schema, events=count_events, as_of=as_of)

    transaction.on_commit(publish)


def inbox_events_publish(*, schema: str, events: list[Event], as_of: int | None = None) -> int:
    """Append and publish `events` in one Redis pipeline (for subscribers with a stream open
    lately); how many were sent to Redis (0 when Redis failed)."""
    try:
        client, append = _script()
        pipe = client.pipeline(transaction=False)
        maxlen, ttl = settings.INBOX_STREAM_MAXLEN, settings.INBOX_STREAM_TTL_SECONDS
        for subscriber_id, event, payload in events:
            key = stream_key(schema=schema, subscriber_id=subscriber_id)
            presence = presence_key(schema=schema, subscriber_id=subscriber_id)
            stamp = "" if as_of is None or event != EVENT_COUNT else str(as_of)
            append(
                keys=[key, presence, f"{key}:count-as-of"],
                args=[maxlen, event, event_data(payload), ttl, stamp],
                client=pipe,
            )
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning(
            "inbox stream publish failed; live inboxes miss %d event(s) until they reload",
            len(events),
            extra={"schema": schema, "error_class": type(exc).__name__},
        )
        return 0
    return len(events)
