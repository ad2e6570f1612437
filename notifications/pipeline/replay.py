"""Replay: dead-lettered or failed deliveries sent again, with a fresh attempt budget."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from notifications.models import Delivery, Route
from notifications.pipeline.dispatch import deliveries_dispatch
from notifications.pipeline.state import REPLAYABLE, deliveries_requeue


def deliveries_replay(*, delivery_ids: Sequence[int] | None = None, queryset=None) -> int:
    """Send dead or failed deliveries again (the route's attempt budget anew); how many."""
    if queryset is None:
        queryset = Delivery.objects.filter(pk__in=list(delivery_ids or []))
    default_attempts = Route._meta.get_field("max_attempts").default
    rows = list(
        queryset.filter(status__in=REPLAYABLE).values_list(
            "pk", "attempts", "notification__route__max_attempts"
        )
    )
    if not rows:
        return 0
    with transaction.atomic():
        requeued = deliveries_requeue(
            delivery_ids=[pk for pk, _a, _m in rows],
            max_attempts=[attempts + (budget or default_attempts) for _p, attempts, budget in rows],
            detail="replayed",
        )
        deliveries_dispatch(rows=requeued)
    return len(requeued)
