"""Accepting events: validate, deduplicate by idempotency key, persist, enqueue on commit."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from notifications.models import Notification, Subscriber, Topic
from notifications.pipeline.dispatch import notification_dispatch
from notifications.rendering import subscriber_context
from notifications.selectors.config import route_resolve
from notifications.selectors.event_schemas import event_schema_versions, payload_errors
from notifications.services.subscribers import subscribers_bulk_upsert, subscribers_ensure
from platform_core.errors import ApplicationError, ErrorKind, validation_error


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


def _resolve_recipients(to: list) -> dict:
    """Upsert inline subscribers, create bare ones for unknown ids, look topics up."""
    inline = [entry for entry in to if isinstance(entry, dict) and "subscriber_id" in entry]
    if inline:
        subscribers_bulk_upsert(items=inline)
    subscriber_ids = [
        entry if isinstance(entry, str) else entry["subscriber_id"]
        for entry in to
        if isinstance(entry, str) or "subscriber_id" in entry
    ]
    pks = subscribers_ensure(subscriber_ids=subscriber_ids, field="to") if subscriber_ids else {}
    topic_keys = [entry["topic"] for entry in to if isinstance(entry, dict) and "topic" in entry]
    topics = dict(Topic.objects.filter(key__in=topic_keys).values_list("key", "pk"))
    unknown = {
        f"to.{index}.topic": [f"No topic '{entry['topic']}'."]
        for index, entry in enumerate(to)
        if isinstance(entry, dict) and "topic" in entry and entry["topic"] not in topics
    }
    if unknown:
        raise validation_error(unknown)
    return {
        "subscribers": sorted(set(pks.values())),
        "topics": sorted({topics[key] for key in topic_keys}),
    }


def _resolve_actor(actor) -> dict | None:
    if actor is None:
        return None
    if isinstance(actor, dict):
        subscribers_bulk_upsert(items=[actor])
        subscriber_id = actor["subscriber_id"]
    else:
        subscriber_id = actor
        subscribers_ensure(subscriber_ids=[subscriber_id], field="actor")
    return subscriber_context(Subscriber.objects.get(subscriber_id=subscriber_id))


def _payload_check(*, event: str, event_version: int | None, payload) -> int | None:
    """The event version a trigger runs (default: the highest registered), its payload held
    to that version's schema: 422 `unknown_event_version` or `payload_invalid`."""
    versions = event_schema_versions(event=event)
    if not versions:  # no schema: any object, routed by the version given if any
        return event_version
    if event_version is None:
        event_version = max(versions)
    elif event_version not in versions:
        known = ", ".join(str(number) for number in sorted(versions))
        raise ApplicationError(
            "unknown_event_version",
            f"The event '{event}' has no version {event_version}; registered: {known}.",
            kind=ErrorKind.UNPROCESSABLE,
            fields={"event_version": [f"Use one of: {known}."]},
        )
    if errors := payload_errors(schema_ref=versions[event_version], payload=payload or {}):
        raise ApplicationError(
            "payload_invalid",
            f"The payload does not match the schema of '{event}' version {event_version}.",
            kind=ErrorKind.UNPROCESSABLE,
            fields=errors,
        )
    return event_version


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
    fingerprint = request_fingerprint(raw)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lock_id(key)])
                locked = cursor.fetchone()[0]
            if not locked:
                raise ApplicationError(
                    "idempotency_in_progress",
                    f"A request with the idempotency key '{key}' is still being processed.",
                    kind=ErrorKind.CONFLICT,
                    retry_after=settings.IDEMPOTENCY_RETRY_AFTER_SECONDS,
                )
            existing = (
                Notification.objects.filter(transaction_id=key)
                .values_list("pk", "request_hash")
                .first()
            )
            if existing:
                return _replay_or_conflict(existing, key, fingerprint)
            event_version = _payload_check(
                event=data["event"],
                event_version=data.get("event_version"),
                payload=data.get("payload"),
            )
            route = route_resolve(event=data["event"], event_version=event_version)
            if route is None:
                raise ApplicationError(
                    "unknown_event",
                    f"No active route for the event '{data['event']}'.",
                    kind=ErrorKind.UNPROCESSABLE,
                    fields={"event": ["No active route for this event."]},
                )
            recipients = {} if broadcast else _resolve_recipients(data["to"])
            now = timezone.now()
            notification = Notification.objects.create(
                event=data["event"],
                route_id=route.route_id,
                workflow_id=route.workflow_id,
                workflow_plan=route.workflow_plan,
                event_version=event_version,
                priority=data.get("priority") or route.priority,
                transaction_id=key,
                request_hash=fingerprint,
                payload=data.get("payload") or {},
                actor=_resolve_actor(data.get("actor")),
                recipients=recipients,
                broadcast=broadcast,
                request_id=request_id[:128],
                created_at=now,
                dispatched_at=now,
            )
            notification_dispatch(notification_id=notification.pk, priority=notification.priority)
    except IntegrityError:
        # Only reachable if the advisory lock was bypassed (another writer); the row wins.
        existing = (
            Notification.objects.filter(transaction_id=key)
            .values_list("pk", "request_hash")
            .first()
        )
        if existing is None:
            raise
        return _replay_or_conflict(existing, key, fingerprint)
    return TriggerOutcome(body=_accepted_body(notification.pk, key), replayed=False)
