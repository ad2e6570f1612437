"""Accepting trigger bodies, for every way in (the REST views, the gRPC servicer).

A body is the JSON value of `POST /events/trigger` (or of one item of `/events/bulk`): it is
validated by the serializers and accepted by `event_trigger`, so both transports share every
check, the idempotency and the results.
"""

from __future__ import annotations

import json

from rest_framework.exceptions import APIException

from notifications.api.serializers.events import BulkTriggerSerializer, TriggerSerializer
from notifications.services.trigger import TriggerOutcome, event_trigger
from platform_core.api.errors import exception_handler
from platform_core.errors import ApplicationError


def trigger_accept(
    *,
    body,
    idempotency_key: str | None = None,
    request_id: str = "",
    serializer_class=TriggerSerializer,
    broadcast: bool = False,
) -> TriggerOutcome:
    """Validate one trigger body and accept it (or replay the first with its key)."""
    serializer = serializer_class(data=body)
    serializer.is_valid(raise_exception=True)
    return event_trigger(
        data=serializer.validated_data,
        raw=body,
        idempotency_key=idempotency_key,
        request_id=request_id,
        broadcast=broadcast,
    )


def bulk_accept(*, body, request_id: str = "") -> list[dict]:
    """Validate a bulk body, then accept each event on its own: one result per event.

    A result is the trigger body plus `replayed`, or `{"status": "error", "error": {...}}`
    with the error envelope of that event alone.
    """
    envelope = BulkTriggerSerializer(data=body)
    envelope.is_valid(raise_exception=True)
    results = []
    for index, raw in enumerate(body["events"]):
        try:
            outcome = trigger_accept(body=raw, request_id=f"{request_id}:{index}")
        except (APIException, ApplicationError) as exc:
            results.append({"status": "error", **json.loads(exception_handler(exc, {}).content)})
            continue
        results.append({**outcome.body, "replayed": outcome.replayed})
    return results
