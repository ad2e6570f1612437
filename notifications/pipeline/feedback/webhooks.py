"""Posting stored webhook messages to tenants' endpoints, retried from the database.

A message is due at `next_attempt_at`. The periodic feed task claims due messages of active
endpoints (`FOR UPDATE SKIP LOCKED`, pushing `next_attempt_at` a lease ahead, so a worker
that dies mid-post only delays them) and enqueues their ids in batches; the sender posts each
through the outgoing destination guard with the provider timeouts, signed per Standard
Webhooks (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md),
and stores every attempt. A 2xx delivers it; anything else (a non-2xx, a timeout, a refused
destination) schedules the next attempt with exponential backoff and jitter, up to
WEBHOOK_MAX_ATTEMPTS. An endpoint whose attempts have failed without a success for
WEBHOOK_DISABLE_AFTER_SECONDS is turned off; its messages wait until it is turned on again.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from connectors.base import DestinationRefused, provider_timeout
from connectors.http import guarded_session
from connectors.webhook import USER_AGENT, sign
from notifications.models import WebhookAttempt, WebhookEndpoint, WebhookMessage

_MESSAGE_TABLE = WebhookMessage._meta.db_table
_ENDPOINT_TABLE = WebhookEndpoint._meta.db_table


def webhook_retry_delay_seconds(attempt: int) -> float:
    """Backoff with full jitter in [cap/2, cap], cap = base * 2^(attempt-1) up to the max."""
    cap = min(
        settings.WEBHOOK_RETRY_MAX_SECONDS,
        settings.WEBHOOK_RETRY_BASE_SECONDS * (2 ** max(attempt - 1, 0)),
    )
    return random.uniform(cap / 2, cap)


def webhook_messages_claim_due(*, now: datetime, limit: int) -> list[int]:
    """Due messages of active endpoints, leased to the caller; their ids."""
    lease = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    with connection.cursor() as sql:
        sql.execute(
            f"""
            UPDATE {_MESSAGE_TABLE} m SET next_attempt_at = %(lease)s
            FROM (
                SELECT m.id FROM {_MESSAGE_TABLE} m
                JOIN {_ENDPOINT_TABLE} e ON e.id = m.endpoint_id
                WHERE m.next_attempt_at IS NOT NULL AND m.next_attempt_at <= %(now)s
                  AND e.active
                ORDER BY m.next_attempt_at
                LIMIT %(limit)s
                FOR UPDATE OF m SKIP LOCKED
            ) due
            WHERE m.id = due.id
            RETURNING m.id
            """,
            {"lease": lease, "now": now, "limit": limit},
        )
        return sorted(row[0] for row in sql.fetchall())


def _post(http: requests.Session, endpoint: WebhookEndpoint, message: WebhookMessage):
    """POST one message; (response code, error, duration in ms)."""
    body = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(endpoint.secret, message.webhook_id, timestamp, body),
    }
    started = time.monotonic()
    code, error = None, ""
    try:
        response = http.post(
            endpoint.url,
            data=body.encode("utf-8"),
            headers=headers,
            timeout=provider_timeout(),
            allow_redirects=False,
        )
        code = response.status_code
        if not 200 <= code < 300:
            error = f"HTTP {code}"
    except DestinationRefused as exc:
        error = str(exc)[:300]
    except requests.Timeout:
        error = "timed out"
    except requests.ConnectionError:
        error = "connection failed"
    except requests.RequestException as exc:
        error = type(exc).__name__
    return code, error, int((time.monotonic() - started) * 1000)


def _record(endpoint: WebhookEndpoint, message: WebhookMessage, code, error, ms) -> None:
    """Store the attempt and its consequences for the message and the endpoint."""
    now = timezone.now()
    attempt = message.attempts + 1
    with transaction.atomic():
        WebhookAttempt.objects.create(
            endpoint=endpoint,
            message=message,
            attempt=attempt,
            response_code=code,
            error=error,
            duration_ms=ms,
            succeeded=not error,
            created_at=now,
        )
        if not error:
            WebhookMessage.objects.filter(pk=message.pk).update(
                attempts=attempt, delivered_at=now, next_attempt_at=None
            )
            WebhookEndpoint.objects.filter(pk=endpoint.pk).exclude(failing_since=None).update(
                failing_since=None
            )
            return
        retry_at = None
        if attempt < settings.WEBHOOK_MAX_ATTEMPTS:
            retry_at = now + timedelta(seconds=webhook_retry_delay_seconds(attempt))
        WebhookMessage.objects.filter(pk=message.pk).update(
            attempts=attempt, next_attempt_at=retry_at
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=now)
        limit = now - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
        WebhookEndpoint.objects.filter(
            pk=endpoint.pk, active=True, failing_since__lte=limit
        ).update(
            active=False,
            disabled_reason=(
                f"disabled automatically at {now:%Y-%m-%d %H:%M:%S} UTC: every attempt failed "
                f"for over {settings.WEBHOOK_DISABLE_AFTER_SECONDS:g} s (last: {error})"
            )[:300],
            updated_at=now,
        )


def webhook_messages_send(*, message_ids: Sequence[int]) -> dict[str, int]:
    """Post a batch of claimed messages, one pooled HTTP session for the batch."""
    messages = list(
        WebhookMessage.objects.filter(pk__in=list(message_ids), next_attempt_at__isnull=False)
        .select_related("endpoint")
        .order_by("endpoint_id", "id")
    )
    counts = {"delivered": 0, "failed": 0, "skipped": 0}
    with guarded_session() as http:
        for message in messages:
            endpoint = WebhookEndpoint.objects.filter(pk=message.endpoint_id).first()
            if endpoint is None or not endpoint.active:
                # Turned off since the claim (by hand or for failing): due again at once, so
                # it goes as soon as the endpoint is turned on.
                WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
                counts["skipped"] += 1
                continue
            code, error, ms = _post(http, endpoint, message)
            _record(endpoint, message, code, error, ms)
            counts["failed" if error else "delivered"] += 1
    return counts
