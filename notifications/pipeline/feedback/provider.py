"""What happened after sent: provider events and tracked clicks and opens applied to
deliveries, suppressions added and checked, and the tenant's public URLs.

Provider events find their delivery by the provider's message id among the deliveries the
same integration sent (one query per callback), and go through the state package's outcome
move (`deliveries_record_outcome`), which applies `delivered`, `bounced`, `opened` and
`clicked` where the table of moves allows and records everything else without a status
change. Each event is recorded once per delivery, keyed by the provider's event id, else by
its kind and timestamp (or its kind alone when the provider gives neither, as Twilio's
status callbacks do: each status once). A hard bounce or a spam complaint suppresses the
address; a send to a suppressed address is skipped (`suppressed_deliveries`, one query per
batch).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from connectors.feedback import Feedback, FeedbackEvent
from notifications.models import (
    Channel,
    Delivery,
    Integration,
    Subscriber,
    Suppression,
    SuppressionReason,
)
from notifications.pipeline.state import DELIVERY_TABLE, deliveries_record_outcome
from tenants.selectors import tenant_primary_host

# Channels whose addresses can be suppressed, and the subscriber column that holds them.
SUPPRESSIBLE = {Channel.EMAIL: "email", Channel.SMS: "phone"}
WEBHOOK_PATH = "/api/v1/integrations/{id}/webhook"
_SUPPRESSION_TABLE = Suppression._meta.db_table
_SUBSCRIBER_TABLE = Subscriber._meta.db_table
_REASON_TEXT = dict(SuppressionReason.choices)


def tenant_base_url() -> str:
    """The base of the current tenant's public links: CLARION_TENANT_BASE_URL with the
    tenant's primary domain."""
    host = tenant_primary_host(schema_name=connection.schema_name) or "localhost"
    return settings.CLARION_TENANT_BASE_URL.format(host=host).rstrip("/")


def integration_webhook_url(integration_id: int, *, base_url: str | None = None) -> str:
    """The full URL a provider posts an integration's events to."""
    return (base_url or tenant_base_url()) + WEBHOOK_PATH.format(id=integration_id)


def connector_settings(integration: Integration) -> dict:
    """An integration's settings as its connector gets them: Twilio's `status_callback`
    defaults to the integration's webhook URL, so its delivery receipts come back here."""
    settings_ = dict(integration.settings or {})
    if integration.provider == "twilio" and not settings_.get("status_callback"):
        settings_["status_callback"] = integration_webhook_url(integration.pk)
    return settings_


def normalized_address(channel: str, address: str | None) -> str:
    """An address as suppressions store it: email lower-cased, a phone number as it is."""
    address = (address or "").strip()
    return address.lower() if channel == Channel.EMAIL else address


def suppressed_deliveries(delivery_ids: Sequence[int], channel: str) -> dict[int, str]:
    """The deliveries of a batch whose recipient's address is suppressed: id → skip reason."""
    column = SUPPRESSIBLE.get(channel)
    if column is None or not delivery_ids:
        return {}
    address = f"lower(s.{column})" if channel == Channel.EMAIL else f"s.{column}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT d.id, x.reason FROM {DELIVERY_TABLE} d
            JOIN {_SUBSCRIBER_TABLE} s ON s.id = d.subscriber_id
            JOIN {_SUPPRESSION_TABLE} x ON x.channel = %s AND x.address = {address}
            WHERE d.id = ANY(%s::bigint[])
            """,
            [channel, list(delivery_ids)],
        )
        return {pk: suppression_reason(reason) for pk, reason in cursor.fetchall()}


def suppression_reason(reason: str) -> str:
    """The skip reason of a delivery to an address suppressed for `reason`."""
    return f"the address is suppressed ({_REASON_TEXT.get(reason, reason).lower()})"


@dataclass(frozen=True)
class FeedbackResult:
    received: int
    matched: int
    recorded: int
    suppressed: int


def _event_key(event: FeedbackEvent) -> str:
    if event.event_id:
        return f"{event.kind}:{event.event_id}"
    if event.occurred_at is not None:
        return f"{event.kind}@{event.occurred_at.isoformat()}"
    return str(event.kind)


def _message_ids(events: Iterable[FeedbackEvent]) -> set[str]:
    """The ids to look deliveries up by: as the provider reports them, and in angle brackets
    (Mailgun's send response has them, its events do not)."""
    ids = set()
    for event in events:
        ids.add(event.message_id)
        ids.add(f"<{event.message_id}>")
    return ids


def feedback_apply(*, integration: Integration, events: Sequence[FeedbackEvent]) -> FeedbackResult:
    """Apply one callback's provider events to the deliveries `integration` sent."""
    if not events:
        return FeedbackResult(received=0, matched=0, recorded=0, suppressed=0)
    rows = Delivery.objects.filter(
        integration_id=integration.pk, provider_message_id__in=_message_ids(events)
    ).values_list("pk", "provider_message_id", "channel", "subscriber_id")
    by_message = {message_id.strip("<>"): (pk, ch, sub) for pk, message_id, ch, sub in rows}
    grouped: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    suppress: dict[int, FeedbackEvent] = {}
    matched = 0
    for event in events:
        found = by_message.get(event.message_id)
        if found is None:
            continue
        matched += 1
        grouped[event.kind].append((found[0], _event_key(event), event.detail))
        if event.suppress:
            suppress.setdefault(found[0], event)
    recorded: set[tuple[int, str]] = set()
    for kind, records in grouped.items():
        for pk, _, _ in deliveries_record_outcome(
            outcome=kind, records=records, provider=integration.provider
        ):
            recorded.add((pk, kind))
    to_suppress = {pk: event for pk, event in suppress.items() if (pk, event.kind) in recorded}
    added = suppressions_add(
        [
            (
                pk,
                by_message[event.message_id][1],
                by_message[event.message_id][2],
                event.recipient,
                SuppressionReason.COMPLAINT
                if event.kind == Feedback.COMPLAINED
                else SuppressionReason.HARD_BOUNCE,
            )
            for pk, event in to_suppress.items()
        ]
    )
    return FeedbackResult(
        received=len(events), matched=matched, recorded=len(recorded), suppressed=added
    )


def suppressions_add(entries: Sequence[tuple[int, str, int | None, str, str]]) -> int:
    """Suppress addresses: (delivery id, channel, subscriber pk, address reported, reason).

    The address is the one the provider reported, else the subscriber's; an address that is
    suppressed already keeps its first reason. Returns how many were added.
    """
    subscribers = Subscriber.objects.in_bulk(
        [sub for _, channel, sub, address, _ in entries if sub and not address]
    )
    rows: dict[tuple[str, str], tuple[str, int]] = {}
    for delivery_id, channel, subscriber_pk, address, reason in entries:
        column = SUPPRESSIBLE.get(channel)
        if column is None:
            continue
        if not address and subscriber_pk in subscribers:
            address = getattr(subscribers[subscriber_pk], column) or ""
        address = normalized_address(channel, address)
        if address:
            rows.setdefault((channel, address), (reason, delivery_id))
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_SUPPRESSION_TABLE} (channel, address, reason, delivery_id, created_at)
            SELECT *, now() FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[])
            ON CONFLICT (channel, address) DO NOTHING
            RETURNING id
            """,
            [
                [channel for channel, _ in rows],
                [address for _, address in rows],
                [reason for reason, _ in rows.values()],
                [delivery_id for _, delivery_id in rows.values()],
            ],
        )
        return len(cursor.fetchall())


def _link_key(url: str) -> str:
    return "click:" + hashlib.sha256(url.encode()).hexdigest()[:16]


def tracked_click(*, delivery_id: int, url: str) -> None:
    """A tracked link was followed: the delivery becomes `clicked` (each link recorded once)."""
    deliveries_record_outcome(
        outcome=Feedback.CLICKED,
        records=[(delivery_id, _link_key(url), "link clicked")],
        provider="tracking",
    )


def tracked_open(*, delivery_id: int) -> None:
    """The open pixel was loaded: the delivery becomes `opened` (recorded once)."""
    deliveries_record_outcome(
        outcome=Feedback.OPENED,
        records=[(delivery_id, "open", "opened (tracking pixel)")],
        provider="tracking",
    )
