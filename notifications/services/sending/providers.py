"""Channels with an external provider (email, SMS, push, chat).

Each delivery is claimed with a conditional update (queued → sending, with a lease) and the
claim is committed before the provider call, so a redelivered message or a sweeper re-dispatch
can never send it twice; the provider gets a stable idempotency key; the outcome is recorded at
once. Integrations of the channel are tried primary first, rotating on retries (failover),
skipping those whose circuit is open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction

from connectors.base import Connector, PermanentError, Recipient, TransientError
from connectors.registry import build_connector
from notifications.circuit import circuit_is_open, circuit_record_failure, circuit_record_success
from notifications.models import Delivery, DeliveryStatus, Integration, Notification, Subscriber
from notifications.rendering import RenderError, subscriber_context
from notifications.selectors.config import integration_list_active
from notifications.services.deliveries import (
    delivery_claim,
    delivery_mark_failed,
    delivery_mark_sent,
    delivery_release,
    delivery_skip,
    send_tasks_enqueue,
)
from notifications.services.sending.common import (
    ConfigurationError,
    Renderer,
    condition_unmet,
    payload_with_digest,
    unread_conditions,
)

logger = logging.getLogger(__name__)


@dataclass
class ProviderPool:
    """The channel's active integrations, primary first; connectors and sessions built lazily."""

    integrations: list[Integration]
    stack: ExitStack
    _sessions: dict[int, Connector] = field(default_factory=dict)
    # Circuit state read once per integration and batch, not once per delivery (a batch is
    # bounded by SEND_BATCH_TIME_BUDGET_SECONDS, so a circuit opened elsewhere is seen soon).
    _open: dict[int, bool] = field(default_factory=dict)
    _reset: set[int] = field(default_factory=set)

    def is_open(self, integration: Integration) -> bool:
        if integration.pk not in self._open:
            self._open[integration.pk] = circuit_is_open(integration_id=integration.pk)
        return self._open[integration.pk]

    def record_success(self, integration: Integration) -> None:
        """Reset the failure count: once, until the next failure in this batch."""
        if integration.pk not in self._reset:
            circuit_record_success(integration_id=integration.pk)
            self._reset.add(integration.pk)

    def record_failure(self, integration: Integration) -> bool:
        """Count a transient failure; True if it opened the circuit."""
        self._reset.discard(integration.pk)
        opened = circuit_record_failure(integration_id=integration.pk)
        if opened:
            self._open[integration.pk] = True
        return opened

    def candidates(self, attempt: int) -> list[Integration]:
        """Integrations to try for this attempt: rotate on retries so failover happens."""
        if not self.integrations:
            return []
        start = (max(attempt, 1) - 1) % len(self.integrations)
        return self.integrations[start:] + self.integrations[:start]

    def session(self, integration: Integration) -> Connector:
        if integration.pk not in self._sessions:
            connector = build_connector(
                integration.provider, integration.settings, integration.credentials
            )
            self._sessions[integration.pk] = self.stack.enter_context(connector.session())
        return self._sessions[integration.pk]


def _recipient(delivery: Delivery, connector: Connector) -> Recipient:
    subscriber = delivery.subscriber
    credentials = {}
    if connector.credentials_key:
        credentials = (subscriber.credentials or {}).get(connector.credentials_key) or {}
    return Recipient(
        subscriber_id=subscriber.subscriber_id,
        email=subscriber.email,
        phone=subscriber.phone,
        locale=subscriber.locale,
        credentials=credentials,
    )


def send_via_providers(delivery_ids: Sequence[int], channel: str) -> dict:
    counts = {"sent": 0, "failed": 0, "dead": 0, "skipped": 0, "deferred": 0, "handed_back": 0}
    started = time.monotonic()
    schema = connection.schema_name
    conditions = unread_conditions(delivery_ids)
    notifications: dict = {}
    renderer = Renderer()
    subscribers = Subscriber.objects.in_bulk(
        list(
            Delivery.objects.filter(
                pk__in=list(delivery_ids), subscriber__isnull=False
            ).values_list("subscriber_id", flat=True)
        )
    )
    with ExitStack() as stack:
        pool = ProviderPool(
            integrations=list(integration_list_active(channel=channel)), stack=stack
        )
        for position, delivery_id in enumerate(delivery_ids):
            if time.monotonic() - started > settings.SEND_BATCH_TIME_BUDGET_SECONDS:
                # A slow provider must not hold this worker: hand the rest to a new task.
                rest = list(delivery_ids[position:])
                rows = Delivery.objects.filter(pk__in=rest, status=DeliveryStatus.QUEUED)
                with transaction.atomic():
                    send_tasks_enqueue(rows=rows.values_list("pk", "channel", "priority"))
                counts["handed_back"] = len(rest)
                break
            delivery = delivery_claim(delivery_id=delivery_id)
            if delivery is None:
                continue
            delivery.subscriber = subscribers.get(delivery.subscriber_id)
            outcome = _send_one(
                delivery, channel, pool, renderer, notifications, conditions, schema
            )
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _send_one(delivery, channel, pool, renderer, notifications, conditions, schema) -> str:
    """Render and send one claimed delivery; returns the outcome for the batch counts."""
    if delivery.subscriber is None:
        delivery_skip(
            delivery=delivery, from_status=DeliveryStatus.SENDING, detail="subscriber was erased"
        )
        return "skipped"
    if condition_unmet(
        notification_id=delivery.notification_id,
        subscriber_pk=delivery.subscriber_id,
        unread_step=conditions.get(delivery.pk),
    ):
        delivery_skip(
            delivery=delivery,
            from_status=DeliveryStatus.SENDING,
            detail="condition not met: in-app message already read",
        )
        return "skipped"
    notification = notifications.get(delivery.notification_id)
    if notification is None:
        notification = notifications[delivery.notification_id] = Notification.objects.get(
            pk=delivery.notification_id
        )
    candidates = pool.candidates(delivery.attempts)
    if not candidates:
        delivery_mark_failed(
            delivery=delivery,
            error=ConfigurationError(f"no active {channel} integration is configured"),
            permanent=True,
        )
        return "dead"
    integration = next((i for i in candidates if not pool.is_open(i)), None)
    if integration is None:
        delivery_release(
            delivery=delivery,
            detail="every provider's circuit is open; waiting",
            delay_seconds=settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS,
        )
        return "deferred"
    variant = ""
    try:
        payload, merged = payload_with_digest(
            delivery_id=delivery.pk,
            subscriber_pk=delivery.subscriber_id,
            digest_key=delivery.digest_key,
            notification=notification,
        )
        message, variant = renderer.render(
            template_key=delivery.template_key,
            channel=channel,
            notification=notification,
            subscriber=subscriber_context(delivery.subscriber),
            payload=payload,
            shareable=not merged,
        )
        connector = pool.session(integration)
        recipient = _recipient(delivery, connector)
    except (RenderError, PermanentError, ValueError) as exc:
        delivery_mark_failed(
            delivery=delivery,
            error=exc,
            permanent=True,
            provider=integration.provider,
            integration_id=integration.pk,
            variant=variant,
        )
        return "dead"
    except TransientError as exc:
        return _transient(delivery, exc, pool, integration, variant, None)
    call_started = time.monotonic()
    try:
        result = connector.send(message, recipient, idempotency_key=f"{schema}-{delivery.pk}")
    except TransientError as exc:
        return _transient(delivery, exc, pool, integration, variant, call_started)
    except PermanentError as exc:
        delivery_mark_failed(
            delivery=delivery,
            error=exc,
            permanent=True,
            provider=integration.provider,
            integration_id=integration.pk,
            response_code=exc.response_code,
            duration_ms=_ms(call_started),
            variant=variant,
        )
        return "dead"
    pool.record_success(integration)
    delivery_mark_sent(
        delivery=delivery,
        provider=integration.provider,
        integration_id=integration.pk,
        provider_message_id=result.provider_message_id,
        response_code=result.response_code,
        variant=variant,
        duration_ms=_ms(call_started),
    )
    return "sent"


def _transient(delivery, exc: TransientError, pool, integration, variant, call_started) -> str:
    if pool.record_failure(integration):
        logger.warning(
            "circuit opened for integration",
            extra={"integration_id": integration.pk, "provider": integration.provider},
        )
    status = delivery_mark_failed(
        delivery=delivery,
        error=exc,
        permanent=False,
        provider=integration.provider,
        integration_id=integration.pk,
        response_code=exc.response_code,
        retry_after=exc.retry_after,
        duration_ms=_ms(call_started) if call_started else None,
        variant=variant,
    )
    return "dead" if status == DeliveryStatus.DEAD else "failed"


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
