"""POST /events/trigger, /events/bulk, /events/broadcast."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.api.events import bulk_accept, trigger_accept
from notifications.api.serializers.events import (
    BroadcastSerializer,
    BulkTriggerSerializer,
    TriggerAcceptedSerializer,
    TriggerSerializer,
)

ERROR = OpenApiResponse(description="Error envelope `{error: {code, message, fields?}}`.")
TRIGGER_EXAMPLE = OpenApiExample(
    "Order shipped",
    request_only=True,
    value={
        "event": "order.shipped",
        "to": [
            "user-1",
            {"subscriber_id": "user-2", "email": "b@example.com"},
            {"topic": "tenant-42"},
        ],
        "payload": {"order_id": "A-1"},
        "actor": "user-9",
        "priority": "high",
        "transaction_id": "order-A-1-shipped",
    },
)
ACCEPTED_EXAMPLE = OpenApiExample(
    "Accepted",
    response_only=True,
    status_codes=["202", "200"],
    value={
        "notification_id": "0b6f1c9e-8f0a-4a7e-9d55-2f3f5f0c9a11",
        "transaction_id": "order-A-1-shipped",
        "status": "accepted",
    },
)


def _accept(request, serializer_class, *, broadcast: bool = False) -> Response:
    """Validate, accept (or replay) one event, and answer 202 (or 200 for a replay)."""
    outcome = trigger_accept(
        body=request.data,
        idempotency_key=request.headers.get("Idempotency-Key"),
        request_id=getattr(request, "request_id", ""),
        serializer_class=serializer_class,
        broadcast=broadcast,
    )
    if outcome.replayed:
        return Response(outcome.body, status=200, headers={"Idempotent-Replayed": "true"})
    return Response(outcome.body, status=status.HTTP_202_ACCEPTED)


class EventTriggerView(APIView):
    rate_limit_category = "events"

    @extend_schema(
        summary="Trigger an event",
        description=(
            "Accepts an event for up to 100 recipients (subscriber ids, inline subscribers, "
            "topics). Returns 202 once the notification is stored. The same `transaction_id` "
            "(or `Idempotency-Key` header) again returns the first response with status 200 "
            "and `Idempotent-Replayed: true`; with a different body → 422 "
            "`idempotency_key_mismatch`; while the first is in flight → 409 with Retry-After."
        ),
        tags=["events"],
        request=TriggerSerializer,
        responses={
            202: TriggerAcceptedSerializer,
            200: TriggerAcceptedSerializer,
            400: ERROR,
            409: ERROR,
            413: ERROR,
            422: ERROR,
        },
        examples=[TRIGGER_EXAMPLE, ACCEPTED_EXAMPLE],
    )
    def post(self, request):
        return _accept(request, TriggerSerializer)


class EventBroadcastView(APIView):
    rate_limit_category = "events"

    @extend_schema(
        summary="Broadcast an event to every subscriber",
        tags=["events"],
        request=BroadcastSerializer,
        responses={
            202: TriggerAcceptedSerializer,
            200: TriggerAcceptedSerializer,
            400: ERROR,
            422: ERROR,
        },
        examples=[
            OpenApiExample(
                "Maintenance notice",
                request_only=True,
                value={
                    "event": "maintenance.scheduled",
                    "payload": {"starts_at": "2026-12-01T02:00:00Z"},
                },
            ),
            ACCEPTED_EXAMPLE,
        ],
    )
    def post(self, request):
        return _accept(request, BroadcastSerializer, broadcast=True)


class EventBulkView(APIView):
    rate_limit_category = "events"

    @extend_schema(
        summary="Trigger up to 100 events",
        description=(
            "Each event is accepted or refused on its own; the response lists one result per "
            "event, in order: the trigger response plus `replayed`, or `status: error` with the "
            "error envelope's `error`."
        ),
        tags=["events"],
        request=BulkTriggerSerializer,
        responses={
            202: inline_serializer(
                "BulkTriggerResult",
                {"results": serializers.ListField(child=serializers.DictField())},
            ),
            400: ERROR,
            413: ERROR,
        },
        examples=[
            OpenApiExample(
                "Two events",
                request_only=True,
                value={
                    "events": [
                        {
                            "event": "order.shipped",
                            "to": ["user-1"],
                            "payload": {"order_id": "A-1"},
                        },
                        {
                            "event": "order.shipped",
                            "to": ["user-2"],
                            "payload": {"order_id": "A-2"},
                        },
                    ]
                },
            ),
            OpenApiExample(
                "Results",
                response_only=True,
                status_codes=["202"],
                value={
                    "results": [
                        {
                            "notification_id": "0b6f1c9e-8f0a-4a7e-9d55-2f3f5f0c9a11",
                            "transaction_id": "6c1d0c3e0b8e4f0c9a55d3e1c2b7a900",
                            "status": "accepted",
                            "replayed": False,
                        },
                        {
                            "status": "error",
                            "error": {"code": "unknown_event", "message": "No active route."},
                        },
                    ]
                },
            ),
        ],
    )
    def post(self, request):
        results = bulk_accept(body=request.data, request_id=getattr(request, "request_id", ""))
        return Response({"results": results}, status=status.HTTP_202_ACCEPTED)
