"""Holding a send batch's deliveries that are due inside quiet hours or outside a send window.

Runs at send time, once per batch of a provider channel, before any delivery is claimed: so
a delivery woken from a delay, a digest window or a retry is checked again when it is due.
Held deliveries go back to `pending` until the window opens (no attempt spent, the history
says why) and the sweeper wakes them then. In-app and chat are never held; nor is anything
critical (by its workflow or by the trigger's priority). The workflow's `send_window` and
`critical` are those of the version the delivery runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, Exists, OuterRef, Q, Subquery, TextField, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from notifications.models import Channel, Delivery, DeliveryStatus, Priority, WorkflowVersion
from notifications.pipeline.quiet_hours import WindowError, hold_until, window_parse
from notifications.pipeline.state import deliveries_hold

HELD_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS, Channel.PUSH})


def _window(value):
    try:
        return window_parse(value)
    except WindowError:  # written before validation existed, or by hand: ignored
        return None


def deliveries_hold_outside_windows(
    delivery_ids: Sequence[int], channel: str, *, now: datetime | None = None
) -> list[int]:
    """Hold the batch's deliveries that may not go now; the ids left to send, in order.

    `now` is the moment windows are evaluated at: by default the real time shifted by
    SEND_WINDOW_CLOCK_OFFSET_SECONDS (0 unless a schedule is being rehearsed).
    """
    if channel not in HELD_CHANNELS or not delivery_ids:
        return list(delivery_ids)
    # The hold is computed on the window clock; the sweeper wakes on the real one.
    shift = timedelta(seconds=settings.SEND_WINDOW_CLOCK_OFFSET_SECONDS)
    now = now or timezone.now() + shift
    # The flags of the workflow version each delivery runs (fixed when it was triggered);
    # the workflow's own for a workflow never versioned (written without the services).
    version = WorkflowVersion.objects.filter(
        workflow_id=OuterRef("notification__workflow_id"),
        number=Coalesce(OuterRef("workflow_version"), OuterRef("notification__workflow__version")),
    )

    def flag(name: str):
        return Case(
            When(
                Exists(version),
                then=Subquery(version.annotate(value=KT(f"snapshot__{name}")).values("value")[:1]),
            ),
            default=Cast(f"notification__workflow__{name}", TextField()),
            output_field=TextField(),
        )

    rows = (
        Delivery.objects.filter(pk__in=list(delivery_ids), status=DeliveryStatus.QUEUED)
        .exclude(priority=Priority.CRITICAL)
        .annotate(version_critical=flag("critical"), version_window=flag("send_window"))
        .exclude(version_critical="true")
        .filter(Q(subscriber__quiet_hours__isnull=False) | Q(version_window__isnull=False))
        .values_list("pk", "subscriber__timezone", "subscriber__quiet_hours", "version_window")
    )
    holds = []
    for pk, zone, quiet_hours, send_window in rows:
        hold = hold_until(
            now=now,
            timezone_name=zone,
            quiet_hours=_window(quiet_hours),
            send_window=_window(json.loads(send_window) if send_window else None),
        )
        if hold is not None:
            holds.append((pk, hold.until - shift, hold.reason))
    if not holds:
        return list(delivery_ids)
    held = set(deliveries_hold(holds=holds))
    return [pk for pk in delivery_ids if pk not in held]
