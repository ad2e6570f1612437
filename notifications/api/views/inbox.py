"""The in-app inbox, for the tenant's own front ends (API key or X-Subscriber-Hash)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.api.authentication import SubscriberHashAuthentication
from notifications.api.serializers.inbox import (
    InboxCountSerializer,
    InboxFilterSerializer,
    InboxMessageSerializer,
)
from notifications.api.views.subscribers import page_example
from notifications.models import InboxMessage, Subscriber
from notifications.services.ids import id_normalize
from notifications.services.inbox import (
    inbox_counts,
    inbox_mark_all_read,
    inbox_mark_all_seen,
    inbox_message_mark_read,
)
from tenants.authentication import ApiKeyAuthentication

ERROR = OpenApiResponse(description="Error envelope `{error: {code, message, fields?}}`.")
HASH_PARAMETER = OpenApiParameter(
    "X-Subscriber-Hash",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="hex(HMAC-SHA256(tenant inbox secret, subscriber_id)); instead of an API key.",
)
MESSAGE_EXAMPLE = {
    "id": 7,
    "title": "Your order shipped",
    "body": "Order A-1 is on its way.",
    "cta_url": "https://shop.example.com/orders/A-1",
    "read": False,
    "seen": True,
    "created_at": "2026-11-22T10:00:01Z",
}


def _mark_all_schema(summary: str):
    """Marking every message of a subscriber: the number of messages changed."""
    return extend_schema(
        summary=summary,
        tags=["inbox"],
        request=None,
        parameters=[HASH_PARAMETER],
        responses={200: {"type": "object", "properties": {"updated": {"type": "integer"}}}},
        examples=[OpenApiExample("Updated", response_only=True, value={"updated": 3})],
    )


class InboxView(APIView):
    authentication_classes = [ApiKeyAuthentication, SubscriberHashAuthentication]
    rate_limit_category = "inbox"

    def subscriber(self, subscriber_id: str) -> Subscriber:
        try:
            return Subscriber.objects.get(subscriber_id=id_normalize(subscriber_id))
        except Subscriber.DoesNotExist as exc:
            raise Http404 from exc


class InboxMessageListView(InboxView, ListAPIView):
    serializer_class = InboxMessageSerializer
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        filters = InboxFilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = InboxMessage.objects.filter(
            subscriber=self.subscriber(self.kwargs["subscriber_id"])
        )
        status = filters.validated_data["status"]
        if status == "unread":
            queryset = queryset.filter(read_at__isnull=True)
        elif status == "read":
            queryset = queryset.filter(read_at__isnull=False)
        return queryset

    @extend_schema(
        summary="A subscriber's in-app messages, newest first",
        tags=["inbox"],
        parameters=[
            OpenApiParameter("status", str, enum=["unread", "read", "all"]),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int),
            HASH_PARAMETER,
        ],
        examples=[page_example(MESSAGE_EXAMPLE, name="Inbox page")],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InboxCountView(InboxView):
    @extend_schema(
        summary="Unread and unseen counts",
        tags=["inbox"],
        parameters=[HASH_PARAMETER],
        responses={200: InboxCountSerializer, 404: ERROR},
        examples=[OpenApiExample("Counts", response_only=True, value={"unread": 3, "unseen": 1})],
    )
    def get(self, request, subscriber_id: str):
        return Response(inbox_counts(subscriber=self.subscriber(subscriber_id)))


class InboxMessageReadView(InboxView):
    @extend_schema(
        summary="Mark one message read",
        tags=["inbox"],
        request=None,
        parameters=[HASH_PARAMETER],
        responses={200: InboxMessageSerializer, 404: ERROR},
        examples=[
            OpenApiExample("Read", response_only=True, value={**MESSAGE_EXAMPLE, "read": True})
        ],
    )
    def post(self, request, subscriber_id: str, message_id: int):
        subscriber = self.subscriber(subscriber_id)
        try:
            message = inbox_message_mark_read(subscriber=subscriber, message_id=message_id)
        except InboxMessage.DoesNotExist as exc:
            raise Http404 from exc
        return Response(InboxMessageSerializer(message).data)


class InboxReadAllView(InboxView):
    @_mark_all_schema("Mark every message read")
    def post(self, request, subscriber_id: str):
        return Response({"updated": inbox_mark_all_read(subscriber=self.subscriber(subscriber_id))})


class InboxSeenAllView(InboxView):
    @_mark_all_schema("Mark every message seen")
    def post(self, request, subscriber_id: str):
        return Response({"updated": inbox_mark_all_seen(subscriber=self.subscriber(subscriber_id))})
