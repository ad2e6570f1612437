"""What happened after a send, told outwards.

- `feed`: reads the delivery history past a stored cursor and turns each outcome into one
  stored webhook message per subscribed endpoint (and into the Prometheus counters);
- `webhooks`: posts due messages, signed per Standard Webhooks, retried from the database;
- `unsubscribe`: the signed one-click unsubscribe links of non-critical email (RFC 8058).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.pipeline.dispatch import webhook_messages_dispatch
from notifications.pipeline.feedback.feed import feed_run
from notifications.pipeline.feedback.webhooks import (
    webhook_messages_claim_due,
    webhook_messages_send,
)

__all__ = ["feed_run", "tenant_feedback", "webhook_messages_send"]


def tenant_feedback() -> dict[str, int]:
    """One tick for the current tenant: read new history, then hand due messages to senders."""
    counts = feed_run()
    with transaction.atomic():
        due = webhook_messages_claim_due(now=timezone.now(), limit=settings.WEBHOOK_CLAIM_LIMIT)
        webhook_messages_dispatch(message_ids=due)
    counts["due"] = len(due)
    return counts
