"""What providers report after a send, in the one vocabulary the pipeline acts on.

A connector that receives webhooks (`Connector.receives_webhooks`) turns a provider's
callback into `FeedbackEvent`s after checking the provider's own signature or credentials,
and raises `WebhookRefused` when they do not check out: nothing is recorded then.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Feedback(enum.StrEnum):
    """What happened to a message the provider accepted."""

    DELIVERED = "delivered"
    BOUNCED = "bounced"  # hard: the address does not take mail (or the number is gone)
    SOFT_BOUNCED = "soft_bounced"  # temporary: mailbox full, greylisted, ...
    DEFERRED = "deferred"  # the provider is still trying
    OPENED = "opened"
    CLICKED = "clicked"
    COMPLAINED = "complained"  # marked as spam by the recipient
    REJECTED = "rejected"  # the provider refused to send it (and not for a bad address)
    FAILED = "failed"  # the provider gave up for another reason
    UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True)
class FeedbackEvent:
    """One provider event about one message.

    `event_id` is the provider's id of the event when it has one ('' otherwise);
    `detail` is short and holds no address or content (it goes to the delivery's history).
    `suppress` says the recipient's address should not be sent to again.
    """

    kind: Feedback
    message_id: str
    event_id: str = ""
    occurred_at: datetime | None = None
    recipient: str = ""
    detail: str = ""
    suppress: bool = False


class WebhookRefused(Exception):
    """The callback's signature or credentials are missing or wrong."""


class WebhookNotConfigured(WebhookRefused):
    """The integration has no secret to check this provider's callbacks with."""


class WebhookMalformed(Exception):
    """The callback cannot be parsed (or acted upon, like an SNS confirmation that fails)."""
