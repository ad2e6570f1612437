"""Accepting events: validate, deduplicate by idempotency key, persist, enqueue on commit.

A trigger is one prepared statement (`ACCEPT_SQL`) in the common case: it takes the
idempotency key's advisory lock, looks for an earlier notification with the key, resolves
the route and the recipients, checks the event's schemas against the ones the payload was
validated with, and inserts the notification only when all of that holds; in autocommit it
commits on its own. What it cannot do itself (inline subscriber upserts, an actor, creating
unknown subscribers) runs first, in a transaction with it, once a first run of the
statement has shown the key free.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from notifications.models import (
    EventSchema,
    Notification,
    Route,
    Subscriber,
    Topic,
    Workflow,
)
from notifications.pipeline.dispatch import accepted_dispatch
from notifications.rendering import subscriber_context
from notifications.selectors.event_schemas import (
    event_schema_stamp,
    event_schema_versions,
    event_schemas_forget,
    payload_errors,
)
from notifications.services.ids import id_normalize
from notifications.services.subscribers import subscribers_bulk_upsert, subscribers_ensure
from platform_core.db_backend.prepared import run_prepared
from platform_core.errors import ApplicationError, ErrorKind, validation_error

# Each step reads what it needs and the last one decides: `ready` holds only when the key's
# lock was free, no notification has the key, the payload was valid against exactly the
# schemas the database holds, and every subscriber and topic named exists. The route bound
# to the event version wins over the event's unbound one.
ACCEPT_SQL = f"""
WITH held AS (SELECT pg_try_advisory_xact_lock(%(lock)s::bigint) AS held),
existing AS (
    SELECT id, request_hash FROM {Notification._meta.db_table}
    WHERE transaction_id = %(key)s::text
),
schemas AS (
    SELECT coalesce(array_agg(id ORDER BY id), '{{}}') = %(schema_ids)s::bigint[]
       AND coalesce(array_agg(updated_at ORDER BY id), '{{}}') = %(schema_stamps)s::timestamptz[]
       AS same
    FROM {EventSchema._meta.db_table} WHERE event = %(event)s::text
),
route AS (
    SELECT r.id, r.workflow_id, r.priority,
           jsonb_build_object('live', w.version, 'rollout', w.rollout_version,
                              'percent', w.rollout_percent::text) AS plan
    FROM {Route._meta.db_table} r JOIN {Workflow._meta.db_table} w ON w.id = r.workflow_id
    WHERE r.event = %(event)s::text AND r.active
      AND (r.event_version IS NULL OR r.event_version = %(event_version)s::integer)
    ORDER BY r.event_version NULLS LAST
    LIMIT 1
),
subscribers AS (
    SELECT id FROM {Subscriber._meta.db_table} WHERE subscriber_id = ANY(%(subscribers)s::text[])
),
topics AS (SELECT id, key FROM {Topic._meta.db_table} WHERE key = ANY(%(topics)s::text[])),
ready AS (
    SELECT (SELECT held FROM held)
       AND NOT EXISTS (SELECT 1 FROM existing)
       AND (SELECT same FROM schemas)
       AND %(valid)s::boolean
       AND (SELECT count(*) FROM subscribers) = %(subscriber_count)s::integer
       AND (SELECT count(*) FROM topics) = %(topic_count)s::integer AS ok
),
inserted AS (
    INSERT INTO {Notification._meta.db_table} (
        id, event, route_id, workflow_id, priority, status, transaction_id, request_hash,
        payload, actor, recipients, workflow_plan, event_version, broadcast, request_id,
        attempts, last_error, created_at, dispatched_at
    )
    SELECT %(id)s::uuid, %(event)s::text, route.id, route.workflow_id,
           coalesce(%(priority)s::text, route.priority), 'accepted', %(key)s::text,
           %(hash)s::text, %(payload)s::jsonb, %(actor)s::jsonb,
           CASE WHEN %(broadcast)s::boolean THEN '{{}}'::jsonb ELSE jsonb_build_object(
               'subscribers', (SELECT coalesce(jsonb_agg(id ORDER BY id), '[]') FROM subscribers),
               'topics', (SELECT coalesce(jsonb_agg(id ORDER BY id), '[]') FROM topics)
           ) END,
           route.plan, %(event_version)s::integer, %(broadcast)s::boolean,
           %(request_id)s::text, 0, '', %(now)s::timestamptz, %(now)s::timestamptz
    FROM route WHERE (SELECT ok FROM ready)
    RETURNING id, priority
)
SELECT (SELECT held FROM held), (SELECT id FROM existing), (SELECT request_hash FROM existing),
       (SELECT same FROM schemas), (SELECT id FROM route), (SELECT count(*) FROM subscribers),
       (SELECT coalesce(array_agg(key), '{{}}') FROM topics),
       (SELECT id FROM inserted), (SELECT priority FROM inserted)
"""


@dataclass(frozen=True)
class TriggerOutcome:
    body: dict
    replayed: bool


def request_fingerprint(raw: dict) -> str:
    """A stable hash of a request body, to tell a replay from a different request."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_id(key: str) -> int:
    """A 64-bit advisory-lock id for (tenant, idempotency key); locks are database-wide."""
    digest = hashlib.sha256(f"{connection.schema_name}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _accepted_body(notification_id, transaction_id: str) -> dict:
    return {
        "notification_id": str(notification_id),
        "transaction_id": transaction_id,
        "status": "accepted",
    }


def _replay_or_conflict(existing: tuple, key: str, fingerprint: str) -> TriggerOutcome:
    pk, stored_fingerprint = existing
    if stored_fingerprint != fingerprint:
        raise ApplicationError(
            "idempotency_key_mismatch",
            f"The idempotency key '{key}' was already used with a different request body.",
            kind=ErrorKind.UNPROCESSABLE,
        )
    return TriggerOutcome(body=_accepted_body(pk, key), replayed=True)


@dataclass
class _Request:
    """One trigger as the statement takes it, with what Python decided before running it."""

    data: dict
    key: str
    fingerprint: str
    request_id: str
    broadcast: bool
    subscriber_ids: list[str]
    topic_keys: list[str]
    actor: dict | None = None


def _payload_check(
    *, event: str, event_version: int | None, payload
) -> tuple[int | None, tuple[list, list], ApplicationError | None]:
    """The event version a trigger runs (default: the highest registered), the stamp of the
    schemas it was decided with, and the 422 (`unknown_event_version` or `payload_invalid`)
    the payload earns against them, if any."""
    versions = event_schema_versions(event=event)
    stamp = event_schema_stamp(versions)
    if not versions:  # no schema: any object, routed by the version given if any
        return event_version, stamp, None
    if event_version is None:
        event_version = max(versions)
    elif event_version not in versions:
        known = ", ".join(str(number) for number in sorted(versions))
        return (
            event_version,
            stamp,
            ApplicationError(
                "unknown_event_version",
                f"The event '{event}' has no version {event_version}; registered: {known}.",
                kind=ErrorKind.UNPROCESSABLE,
                fields={"event_version": [f"Use one of: {known}."]},
            ),
        )
    if errors := payload_errors(schema_ref=versions[event_version], payload=payload or {}):
        return (
            event_version,
            stamp,
            ApplicationError(
                "payload_invalid",
                f"The payload does not match the schema of '{event}' version {event_version}.",
                kind=ErrorKind.UNPROCESSABLE,
                fields=errors,
            ),
        )
    return event_version, stamp, None


class _SchemasChanged(Exception):
    """The database's schemas of the event differ from this process's index."""


class _SubscribersMissing(Exception):
    """A subscriber id named is not in the database yet."""


def _run(request: _Request, *, insert: bool) -> TriggerOutcome:
    """Run the statement once and read its answer: an outcome, or the error it earns.

    With `insert=False` it only asks (the lock, an earlier notification, the schemas, the
    route) and raises nothing for a request that could be accepted; the caller then does what
    the statement cannot and runs it again.
    """
    data = request.data
    event_version, stamp, payload_error = _payload_check(
        event=data["event"], event_version=data.get("event_version"), payload=data.get("payload")
    )
    notification_id = uuid.uuid4()
    (
        held,
        existing_id,
        existing_hash,
        schemas_same,
        route_id,
        subscriber_count,
        topics_found,
        inserted_id,
        inserted_priority,
    ) = run_prepared(
        ACCEPT_SQL,
        {
            "lock": _lock_id(request.key),
            "key": request.key,
            "event": data["event"],
            "event_version": event_version,
            "schema_ids": stamp[0],
            "schema_stamps": stamp[1],
            "valid": insert and payload_error is None,
            "subscribers": request.subscriber_ids,
            "subscriber_count": len(request.subscriber_ids),
            "topics": request.topic_keys,
            "topic_count": len(request.topic_keys),
            "id": notification_id,
            "priority": data.get("priority") or None,
            "hash": request.fingerprint,
            "payload": Jsonb(data.get("payload") or {}),
            "actor": None if request.actor is None else Jsonb(request.actor),
            "broadcast": request.broadcast,
            "request_id": request.request_id[:128],
            "now": timezone.now(),
        },
    )[0]
    if not held:
        raise ApplicationError(
            "idempotency_in_progress",
            f"A request with the idempotency key '{request.key}' is still being processed.",
            kind=ErrorKind.CONFLICT,
            retry_after=settings.IDEMPOTENCY_RETRY_AFTER_SECONDS,
        )
    if existing_id is not None:
        return _replay_or_conflict((existing_id, existing_hash), request.key, request.fingerprint)
    if not schemas_same:
        raise _SchemasChanged
    if payload_error is not None:
        raise payload_error
    if route_id is None:
        raise ApplicationError(
            "unknown_event",
            f"No active route for the event '{data['event']}'.",
            kind=ErrorKind.UNPROCESSABLE,
            fields={"event": ["No active route for this event."]},
        )
    if not insert:
        return TriggerOutcome(body={}, replayed=False)
    if subscriber_count != len(request.subscriber_ids):
        raise _SubscribersMissing
    unknown = {
        f"to.{index}.topic": [f"No topic '{entry['topic']}'."]
        for index, entry in enumerate(data.get("to") or [])
        if isinstance(entry, dict) and "topic" in entry and entry["topic"] not in topics_found
    }
    if unknown:
        raise validation_error(unknown)
    accepted_dispatch(notification_id=inserted_id, priority=inserted_priority)
    return TriggerOutcome(body=_accepted_body(inserted_id, request.key), replayed=False)


def _resolve_actor(actor) -> dict:
    if isinstance(actor, dict):
        subscribers_bulk_upsert(items=[actor])
        subscriber_id = actor["subscriber_id"]
    else:
        subscriber_id = actor
        subscribers_ensure(subscriber_ids=[subscriber_id], field="actor")
    return subscriber_context(Subscriber.objects.get(subscriber_id=subscriber_id))


def _run_with_writes(request: _Request) -> TriggerOutcome:
    """The statement after the writes it cannot make, in one transaction: inline subscribers
    upserted, unknown ids created (or refused by the id rule), the actor resolved. Only once
    a first run has shown the key free and the event routable, so a replay writes nothing."""
    with transaction.atomic():
        replay = _run(request, insert=False)
        if replay.replayed:
            return replay
        to = request.data.get("to") or []
        if inline := [
            entry for entry in to if isinstance(entry, dict) and "subscriber_id" in entry
        ]:
            subscribers_bulk_upsert(items=inline)
        if request.subscriber_ids:
            subscribers_ensure(subscriber_ids=request.subscriber_ids, field="to")
        if request.data.get("actor") is not None:
            request.actor = _resolve_actor(request.data["actor"])
        return _run(request, insert=True)


def _accept(request: _Request) -> TriggerOutcome:
    needs_writes = request.data.get("actor") is not None or any(
        isinstance(entry, dict) and "subscriber_id" in entry
        for entry in request.data.get("to") or []
    )
    if not needs_writes:
        try:
            return _run(request, insert=True)  # autocommit: the statement commits itself
        except _SubscribersMissing:
            pass
    return _run_with_writes(request)


def event_trigger(
    *,
    data: dict,
    raw: dict,
    idempotency_key: str | None = None,
    request_id: str = "",
    broadcast: bool = False,
) -> TriggerOutcome:
    """Accept one event: 202 body, or a replay of the first request with the same key.

    The notification is committed before this returns; processing is enqueued on commit.
    """
    key = data.get("transaction_id") or idempotency_key or uuid.uuid4().hex
    if data.get("transaction_id") and idempotency_key and data["transaction_id"] != idempotency_key:
        raise validation_error(
            {"transaction_id": ["Differs from the Idempotency-Key header; send one or the same."]}
        )
    to = [] if broadcast else data["to"]
    request = _Request(
        data=data,
        key=key,
        fingerprint=request_fingerprint(raw),
        request_id=request_id,
        broadcast=broadcast,
        subscriber_ids=list(
            dict.fromkeys(
                id_normalize(entry if isinstance(entry, str) else entry["subscriber_id"])
                for entry in to
                if isinstance(entry, str) or "subscriber_id" in entry
            )
        ),
        topic_keys=list(
            dict.fromkeys(
                entry["topic"] for entry in to if isinstance(entry, dict) and "topic" in entry
            )
        ),
    )
    for _attempt in range(3):
        try:
            return _accept(request)
        except _SchemasChanged:
            event_schemas_forget()
        except IntegrityError:
            # Two requests with one key both found it free (the second's snapshot predates
            # the first's commit): the first row wins.
            existing = (
                Notification.objects.filter(transaction_id=key)
                .values_list("pk", "request_hash")
                .first()
            )
            if existing is None:
                raise
            return _replay_or_conflict(existing, key, request.fingerprint)
    return _accept(request)
