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
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import connection, transaction

from connectors.base import Connector, PermanentError, Recipient, TransientError
from connectors.registry import build_connector
from notifications.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Integration,
    Notification,
    Subscriber,
)
from notifications.pipeline.circuit import (
    circuit_is_open,
    circuit_record_failure,
    circuit_record_success,
)
from notifications.pipeline.dispatch import deliveries_dispatch
from notifications.pipeline.feedback.provider import connector_settings
from notifications.pipeline.governance import ProviderPacer
from notifications.pipeline.retry import failure_decide
from notifications.pipeline.sending.prepare import BatchPreparer, ConfigurationError
from notifications.pipeline.sending.windows import deliveries_hold_outside_windows
from notifications.pipeline.state import (
    deliveries_release_queued,
    delivery_claim,
    delivery_mark_failed,
    delivery_mark_sent,
    delivery_release,
    delivery_skip,
)
from notifications.rendering import RenderError, subscriber_context

logger = logging.getLogger(__name__)

# Batch outcomes besides the statuses deliveries end in.
DEFERRED = "deferred"  # every provider's circuit is open; back to waiting, no attempt spent
HANDED_BACK = "handed_back"  # not started within the time budget; sent by a new task
RATE_LIMITED = "rate_limited"  # the integration's rate limit is reached; rescheduled


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
    pacer: ProviderPacer = field(default_factory=ProviderPacer)
    # The integration whose bucket the last send found empty.
    exhausted: Integration | None = None

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

    def chosen(self, attempt: int) -> Integration | None:
        """The integration an attempt goes to: the first candidate whose circuit is closed."""
        return next((i for i in self.candidates(attempt) if not self.is_open(i)), None)

    def candidates(self, attempt: int) -> list[Integration]:
        """Integrations to try for this attempt: rotate on retries so failover happens."""
        if not self.integrations:
            return []
        start = (max(attempt, 1) - 1) % len(self.integrations)
        return self.integrations[start:] + self.integrations[:start]

    def session(self, integration: Integration) -> Connector:
        if integration.pk not in self._sessions:
            connector = build_connector(
                integration.provider,
                connector_settings(integration),
                integration.credentials,
            )
            self._sessions[integration.pk] = self.stack.enter_context(connector.session())
        return self._sessions[integration.pk]


def integrations_in_failover_order(*, channel: str) -> list[Integration]:
    """The channel's active integrations in failover order: primary first, then by id."""
    return list(Integration.objects.filter(channel=channel, active=True).order_by("-primary", "id"))


def _recipient(delivery: Delivery, connector: Connector) -> Recipient:
    return subscriber_recipient(delivery.subscriber, credentials_key=connector.credentials_key)


def subscriber_recipient(subscriber, *, credentials_key: str | None) -> Recipient:
    """Where a connector sends to a subscriber (its device credentials under `credentials_key`)."""
    credentials = {}
    if credentials_key:
        credentials = (subscriber.credentials or {}).get(credentials_key) or {}
    return Recipient(
        subscriber_id=subscriber.subscriber_id,
        email=subscriber.email,
        phone=subscriber.phone,
        locale=subscriber.locale,
        credentials=credentials,
    )


def send_via_providers(
    delivery_ids: Sequence[int],
    channel: str,
    *,
    notifications: Mapping[object, Notification] | None = None,
) -> dict:
    """Claim and send a batch one delivery at a time, within the batch's time budget
    (`notifications`: those of the batch already read, as `deliveries_send` takes them)."""
    counts: Counter[str] = Counter()
    started = time.monotonic()
    schema = connection.schema_name
    # Quiet hours and send windows: what may not go now waits in the database.
    delivery_ids = deliveries_hold_outside_windows(delivery_ids, channel)
    batch = BatchPreparer(
        delivery_ids=delivery_ids, channel=channel, notifications=dict(notifications or {})
    )
    refs = list(
        Delivery.objects.filter(pk__in=list(delivery_ids)).values_list(
            "pk", "notification_id", "subscriber_id", "attempts"
        )
    )
    batch.load_notifications({n for _, n, _, _ in refs})
    subscribers = Subscriber.objects.in_bulk([s for _, _, s, _ in refs if s is not None])
    attempts = {pk: tried for pk, _, _, tried in refs}
    released: set[int] = set()
    with ExitStack() as stack:
        pool = ProviderPool(
            integrations=integrations_in_failover_order(channel=channel), stack=stack
        )
        for position, delivery_id in enumerate(delivery_ids):
            if delivery_id in released:
                continue
            if time.monotonic() - started > settings.SEND_BATCH_TIME_BUDGET_SECONDS:
                # A slow provider must not hold this worker: hand the rest to a new task.
                rest = list(delivery_ids[position:])
                rows = Delivery.objects.filter(pk__in=rest, status=DeliveryStatus.QUEUED)
                with transaction.atomic():
                    deliveries_dispatch(rows=rows.values_list("pk", "channel", "priority"))
                counts[HANDED_BACK] = len(rest)
                break
            delivery = delivery_claim(delivery_id=delivery_id)
            if delivery is None:
                continue
            delivery.subscriber = subscribers.get(delivery.subscriber_id)
            outcome = _send_one(delivery, channel, pool, batch, schema)
            counts[outcome] += 1
            if outcome == RATE_LIMITED:
                rest = [pk for pk in delivery_ids[position + 1 :] if pk not in released]
                moved = _release_rest(delivery, rest, attempts, pool)
                released.update(moved)
                counts[RATE_LIMITED] += len(moved)
    return dict(counts)


def _release_rest(delivery, rest: Sequence[int], attempts: dict[int, int], pool) -> list[int]:
    """The bucket of `pool.exhausted` is empty: reschedule `delivery` (claimed) and, in one
    statement, the batch's other deliveries bound for that integration, slots one interval
    apart; returns the ids of those others."""
    integration = pool.exhausted
    bound = [pk for pk in rest if pk in attempts and pool.chosen(attempts[pk] + 1) == integration]
    delays = pool.pacer.release_delays(integration, 1 + len(bound))
    detail = pool.pacer.waiting_detail(integration)
    delivery_release(delivery=delivery, detail=detail, delay_seconds=delays[0])
    return deliveries_release_queued(delivery_ids=bound, delays=delays[1:], detail=detail)


def _send_one(delivery, channel, pool, batch: BatchPreparer, schema) -> str:
    """Render and send one claimed delivery; returns its new status (or DEFERRED)."""
    reason = batch.skip_reason(delivery_id=delivery.pk, subscriber_pk=delivery.subscriber_id)
    if not reason:
        reason = batch.throttled(
            [(delivery.pk, delivery.subscriber_id, delivery.notification_id, delivery.priority)]
        ).get(delivery.pk, "")
    if reason:
        delivery_skip(delivery=delivery, detail=reason)
        return DeliveryStatus.SKIPPED
    candidates = pool.candidates(delivery.attempts)
    if not candidates:
        _fail(
            delivery,
            ConfigurationError(f"no active {channel} integration is configured"),
            permanent=True,
        )
        return DeliveryStatus.DEAD
    integration = next((i for i in candidates if not pool.is_open(i)), None)
    if integration is None:
        delivery_release(
            delivery=delivery,
            detail="every provider's circuit is open; waiting",
            delay_seconds=settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS,
        )
        return DEFERRED
    if not pool.pacer.take(integration):
        pool.exhausted = integration
        return RATE_LIMITED
    variant = ""
    try:
        message, variant = batch.message(
            delivery_id=delivery.pk,
            notification_id=delivery.notification_id,
            subscriber_pk=delivery.subscriber_id,
            subscriber=subscriber_context(delivery.subscriber),
            template_key=delivery.template_key,
            digest_key=delivery.digest_key,
        )
        if channel == Channel.EMAIL:
            headers = batch.unsubscribe_headers(
                notification_id=delivery.notification_id,
                subscriber_ref=delivery.subscriber_ref,
                priority=delivery.priority,
            )
            message = replace(message, headers={**message.headers, **headers})
        connector = pool.session(integration)
        recipient = _recipient(delivery, connector)
    except (RenderError, PermanentError, ValueError) as exc:
        _fail(delivery, exc, permanent=True, integration=integration, variant=variant)
        return DeliveryStatus.DEAD
    except TransientError as exc:
        return _transient(delivery, exc, pool, integration, variant, None)
    call_started = time.monotonic()
    try:
        result = connector.send(message, recipient, idempotency_key=f"{schema}-{delivery.pk}")
    except TransientError as exc:
        return _transient(delivery, exc, pool, integration, variant, call_started)
    except PermanentError as exc:
        _fail(
            delivery,
            exc,
            permanent=True,
            integration=integration,
            variant=variant,
            response_code=exc.response_code,
            duration_ms=_ms(call_started),
        )
        return DeliveryStatus.DEAD
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
    return DeliveryStatus.SENT


def _fail(
    delivery,
    exc: BaseException,
    *,
    permanent: bool,
    integration: Integration | None = None,
    variant: str = "",
    response_code: int | None = None,
    retry_after: float | None = None,
    duration_ms: int | None = None,
) -> str:
    """Record a failed attempt: a retry scheduled by the retry policy, or dead."""
    decision = failure_decide(
        error=exc,
        permanent=permanent,
        attempts=delivery.attempts,
        max_attempts=delivery.max_attempts,
        retry_after=retry_after,
    )
    return delivery_mark_failed(
        delivery=delivery,
        error=exc,
        dead=decision.dead,
        next_attempt_at=decision.next_attempt_at,
        message=decision.message,
        provider=integration.provider if integration else "",
        integration_id=integration.pk if integration else None,
        response_code=response_code,
        duration_ms=duration_ms,
        variant=variant,
    )


def _transient(delivery, exc: TransientError, pool, integration, variant, call_started) -> str:
    if pool.record_failure(integration):
        logger.warning(
            "circuit opened for integration",
            extra={"integration_id": integration.pk, "provider": integration.provider},
        )
    return _fail(
        delivery,
        exc,
        permanent=False,
        integration=integration,
        variant=variant,
        response_code=exc.response_code,
        retry_after=exc.retry_after,
        duration_ms=_ms(call_started) if call_started else None,
    )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
