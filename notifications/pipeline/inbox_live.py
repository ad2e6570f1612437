"""The real-time inbox's writers: events appended to Redis once the inbox rows commit.

The send path and the inbox writes (read, read-all, seen-all) call `inbox_events_on_commit`
inside their transaction. The events of one transaction go to Redis in one pipeline after it
commits, so a stream never shows a message the database does not hold; Redis being slow or
down costs the live update (logged), never the send. Counts are computed in SQL at the
write, inside the transaction, and shipped in the event: the stream process has no ORM.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import redis
from django.conf import settings
from django.db import connection, transaction

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


def inbox_counts_by_subscriber(subscriber_pks: Iterable[int]) -> dict[int, tuple[str, dict]]:
    """Each subscriber's own id and `{unread, unseen}`, in one statement."""
    pks = sorted(set(subscriber_pks))
    if not pks:
        return {}
    inbox, subscribers = InboxMessage._meta.db_table, Subscriber._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, s.subscriber_id, "
            f"count(m.id) FILTER (WHERE m.read_at IS NULL), "
            f"count(m.id) FILTER (WHERE m.seen_at IS NULL) "
            f"FROM {subscribers} s LEFT JOIN {inbox} m ON m.subscriber_id = s.id "
            f"WHERE s.id = ANY(%s) GROUP BY s.id, s.subscriber_id",
            [pks],
        )
        return {
            pk: (subscriber_id, {"unread": unread, "unseen": unseen})
            for pk, subscriber_id, unread, unseen in cursor.fetchall()
        }


def inbox_count_events(subscriber_pks: Iterable[int]) -> list[Event]:
    """A `count` event for each subscriber, with its counts as of this transaction."""
    counts = inbox_counts_by_subscriber(subscriber_pks)
    return [(subscriber_id, EVENT_COUNT, count) for subscriber_id, count in counts.values()]


def inbox_events_on_commit(events: list[Event]) -> None:
    """Publish `events` to the subscribers' streams once the current transaction commits."""
    if not events or not settings.INBOX_STREAM_ENABLED:
        return
    schema = connection.schema_name
    transaction.on_commit(lambda: inbox_events_publish(schema=schema, events=events))


def inbox_events_publish(*, schema: str, events: list[Event]) -> int:
    """Append and publish `events` in one Redis pipeline (for subscribers with a stream open
    lately); how many were sent to Redis (0 when Redis failed)."""
    try:
        client, append = _script()
        pipe = client.pipeline(transaction=False)
        maxlen, ttl = settings.INBOX_STREAM_MAXLEN, settings.INBOX_STREAM_TTL_SECONDS
        for subscriber_id, event, payload in events:
            key = stream_key(schema=schema, subscriber_id=subscriber_id)
            presence = presence_key(schema=schema, subscriber_id=subscriber_id)
            append(
                keys=[key, presence], args=[maxlen, event, event_data(payload), ttl], client=pipe
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
