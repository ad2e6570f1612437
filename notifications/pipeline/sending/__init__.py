"""Sending a batch of deliveries of one channel: `inapp` (the database channel) or
`providers` (email, SMS, push, chat), both through the shared `prepare` step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from notifications.models import Channel, Notification
from notifications.pipeline.sending.inapp import send_in_app
from notifications.pipeline.sending.prepare import ConfigurationError
from notifications.pipeline.sending.providers import send_via_providers

__all__ = ["ConfigurationError", "deliveries_send"]


def deliveries_send(
    *,
    delivery_ids: Sequence[int],
    channel: str,
    notifications: Mapping[object, Notification] | None = None,
) -> dict:
    """Send a batch of deliveries of one channel; returns counts by outcome.

    `notifications` (id → notification, its workflow loaded or not) are those of the batch
    the caller has already read; the others are loaded in one query.
    """
    if channel == Channel.IN_APP:
        return send_in_app(delivery_ids, notifications=notifications)
    return send_via_providers(delivery_ids, channel, notifications=notifications)
