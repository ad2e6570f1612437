"""Notifications, deliveries (with history), replay, and queue statistics."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.api.serializers.deliveries import (
    DeliveryDetailSerializer,
    DeliveryFilterSerializer,
    DeliverySerializer,
    NotificationDetailSerializer,
    NotificationFilterSerializer,
    NotificationSerializer,
    QueueStatsSerializer,
)
from notifications.api.views.subscribers import page_example
from notifications.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    NotificationStatus,
    Priority,
)
from notifications.pipeline.replay import deliveries_replay
from notifications.pipeline.state import REPLAYABLE
from notifications.selectors.deliveries import (
    COMPLETED_STATUSES,
    delivery_counts_by_priority,
    delivery_get,
    delivery_list,
    notification_first_deliveries,
    notification_get,
    notification_list,
    notification_stats,
)
from platform_core.broker import queue_depths
from platform_core.errors import ApplicationError, ErrorKind

ERROR = OpenApiResponse(description="Error envelope `{error: {code, message, fields?}}`.")
NOTIFICATION_EXAMPLE = {
    "id": "0b6f1c9e-8f0a-4a7e-9d55-2f3f5f0c9a11",
    "event": "order.shipped",
    "status": "processed",
    "priority": "high",
    "transaction_id": "order-A-1-shipped",
    "created_at": "2026-11-22T10:00:00Z",
    "processed_at": "2026-11-22T10:00:01Z",
}
DELIVERY_EXAMPLE = {
    "id": 41,
    "notification_id": "0b6f1c9e-8f0a-4a7e-9d55-2f3f5f0c9a11",
    "subscriber_id": "user-1",
    "channel": "email",
    "status": DeliveryStatus.SENT.value,
    "attempts": 2,
    "provider": "smtp",
    "variant": "b",
    "last_error": "",
    "next_attempt_at": None,
    "scheduled_for": None,
    "created_at": "2026-11-22T10:00:00Z",
    "updated_at": "2026-11-22T10:00:14Z",
}
DELIVERY_DETAIL_EXAMPLE = {
    **DELIVERY_EXAMPLE,
    "template_key": "order-shipped",
    "step_index": 0,
    "sent_at": "2026-11-22T10:00:14Z",
    "events": [
        {
            "created_at": "2026-11-22T10:00:00Z",
            "from_status": "",
            "status": DeliveryStatus.QUEUED.value,
            "attempt": 0,
            "provider": "",
            "error_class": "",
            "provider_response_code": None,
            "detail": "",
            "duration_ms": None,
        },
        {
            "created_at": "2026-11-22T10:00:01Z",
            "from_status": DeliveryStatus.SENDING.value,
            "status": DeliveryStatus.FAILED.value,
            "attempt": 1,
            "provider": "smtp",
            "error_class": "TransientError",
            "provider_response_code": 451,
            "detail": "SMTP 451: try later",
            "duration_ms": 35,
        },
        {
            "created_at": "2026-11-22T10:00:14Z",
            "from_status": DeliveryStatus.SENDING.value,
            "status": DeliveryStatus.SENT.value,
            "attempt": 2,
            "provider": "smtp",
            "error_class": "",
            "provider_response_code": 250,
            "detail": "",
            "duration_ms": 31,
        },
    ],
}

HELD_EXAMPLE = {
    **DELIVERY_EXAMPLE,
    "channel": "push",
    "status": DeliveryStatus.PENDING.value,
    "attempts": 0,
    "provider": "",
    "variant": "",
    "next_attempt_at": "2026-11-22T22:00:00Z",
    "scheduled_for": "2026-11-22T22:00:00Z",
    "updated_at": "2026-11-22T14:00:01Z",
    "template_key": "order-shipped-push",
    "step_index": 0,
    "sent_at": None,
    "events": [
        {
            **DELIVERY_DETAIL_EXAMPLE["events"][0],
            "created_at": "2026-11-22T14:00:00Z",
        },
        {
            **DELIVERY_DETAIL_EXAMPLE["events"][0],
            "created_at": "2026-11-22T14:00:01Z",
            "from_status": DeliveryStatus.QUEUED.value,
            "status": DeliveryStatus.PENDING.value,
            "detail": "quiet hours until 07:00 Asia/Tokyo",
        },
    ],
}


def _filters(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return {k: v for k, v in serializer.validated_data.items() if k not in ("cursor", "limit")}


class NotificationListView(ListAPIView):
    serializer_class = NotificationSerializer
    ordering = "-created_at"

    def get_queryset(self):
        return notification_list(**_filters(NotificationFilterSerializer, self.request))

    @extend_schema(
        summary="List notifications",
        tags=["notifications"],
        parameters=[
            OpenApiParameter("event", str),
            OpenApiParameter("status", str, enum=[s.value for s in NotificationStatus]),
            OpenApiParameter("subscriber_id", str),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int),
        ],
        examples=[page_example(NOTIFICATION_EXAMPLE, name="Newest first")],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class NotificationDetailView(APIView):
    @extend_schema(
        summary="A notification with delivery statistics and its first 100 deliveries",
        tags=["notifications"],
        responses={200: NotificationDetailSerializer, 404: ERROR},
        examples=[
            OpenApiExample(
                "Processed",
                response_only=True,
                value={
                    **NOTIFICATION_EXAMPLE,
                    "stats": {"total": 2, "sent": 1, "dead": 1},
                    "deliveries": [
                        {**DELIVERY_EXAMPLE, "attempts": 1, "updated_at": "2026-11-22T10:00:01Z"}
                    ],
                },
            )
        ],
    )
    def get(self, request, notification_id):
        try:
            notification = notification_get(notification_id=notification_id)
        except Notification.DoesNotExist as exc:
            raise Http404 from exc
        data = NotificationSerializer(notification).data
        data["stats"] = notification_stats(notification=notification)
        deliveries = notification_first_deliveries(notification=notification)
        data["deliveries"] = DeliverySerializer(deliveries, many=True).data
        return Response(data)


class DeliveryListView(ListAPIView):
    serializer_class = DeliverySerializer
    ordering = "-id"

    def get_queryset(self):
        return delivery_list(**_filters(DeliveryFilterSerializer, self.request))

    @extend_schema(
        summary="List deliveries",
        tags=["deliveries"],
        parameters=[
            OpenApiParameter("notification_id", str),
            OpenApiParameter("status", str, enum=[s.value for s in DeliveryStatus]),
            OpenApiParameter("channel", str, enum=list(Channel.values)),
            OpenApiParameter("subscriber_id", str),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int),
        ],
        examples=[
            page_example(
                {
                    **DELIVERY_EXAMPLE,
                    "status": DeliveryStatus.DEAD.value,
                    "attempts": 5,
                    "last_error": "attempts exhausted (5): SMTP 451: try later",
                },
                name="Dead letters",
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DeliveryDetailView(APIView):
    @extend_schema(
        summary="A delivery with its full status history",
        tags=["deliveries"],
        responses={200: DeliveryDetailSerializer, 404: ERROR},
        examples=[
            OpenApiExample("Retried, then sent", response_only=True, value=DELIVERY_DETAIL_EXAMPLE),
            OpenApiExample("Held by quiet hours", response_only=True, value=HELD_EXAMPLE),
        ],
    )
    def get(self, request, delivery_id: int):
        try:
            delivery = delivery_get(delivery_id=delivery_id)
        except Delivery.DoesNotExist as exc:
            raise Http404 from exc
        return Response(DeliveryDetailSerializer(delivery).data)


class DeliveryReplayView(APIView):
    @extend_schema(
        summary="Send a dead or failed delivery again",
        tags=["deliveries"],
        request=None,
        responses={202: DeliverySerializer, 404: ERROR, 409: ERROR},
        examples=[
            OpenApiExample(
                "Re-queued",
                response_only=True,
                status_codes=["202"],
                value={**DELIVERY_EXAMPLE, "status": DeliveryStatus.QUEUED.value, "attempts": 5},
            )
        ],
    )
    def post(self, request, delivery_id: int):
        try:
            delivery = Delivery.objects.get(pk=delivery_id)
        except Delivery.DoesNotExist as exc:
            raise Http404 from exc
        if delivery.status not in REPLAYABLE or not deliveries_replay(delivery_ids=[delivery.pk]):
            raise ApplicationError(
                "not_replayable",
                f"Only dead or failed deliveries can be replayed; this one is {delivery.status}.",
                kind=ErrorKind.CONFLICT,
            )
        delivery.refresh_from_db()
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class QueueStatsView(APIView):
    @extend_schema(
        summary="Per priority queue: waiting, active, scheduled, completed, failed, dead",
        description=(
            "Counts are this tenant's deliveries by status; `broker_backlog` is the number of "
            "messages waiting in the shared broker queue (all tenants)."
        ),
        tags=["operations"],
        examples=[
            OpenApiExample(
                "Stats",
                response_only=True,
                value={
                    priority: {
                        "waiting": 12,
                        "active": 2,
                        "scheduled": 40,
                        "completed": 98121,
                        "failed": 3,
                        "dead": 1,
                        "broker_backlog": 4,
                    }
                    for priority in Priority.values
                },
            )
        ],
        responses={
            200: inline_serializer(
                "QueueStatsByPriority",
                {priority: QueueStatsSerializer() for priority in Priority.values},
            )
        },
    )
    def get(self, request):
        counts = delivery_counts_by_priority()
        backlog = _broker_backlog()
        result = {}
        for priority in Priority.values:
            by_status = counts.get(priority, {})
            result[priority] = {
                "waiting": by_status.get(DeliveryStatus.QUEUED, 0),
                "active": by_status.get(DeliveryStatus.SENDING, 0),
                "scheduled": by_status.get(DeliveryStatus.PENDING, 0)
                + by_status.get(DeliveryStatus.FAILED, 0),
                "completed": sum(by_status.get(s, 0) for s in COMPLETED_STATUSES),
                "failed": by_status.get(DeliveryStatus.FAILED, 0),
                "dead": by_status.get(DeliveryStatus.DEAD, 0),
                "broker_backlog": backlog.get(priority),
            }
        return Response(result)


def _broker_backlog() -> dict[str, int | None]:
    from platform_core.celery import app

    try:
        with app.connection_for_read() as conn:
            return queue_depths(conn, settings.CELERY_QUEUE_NAMES)
    except Exception:  # noqa: BLE001 - the broker being down must not break the stats
        return {}
