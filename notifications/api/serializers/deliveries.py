"""Notifications, deliveries and their history, as the API returns them."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifications.models import (
    Channel,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Notification,
    NotificationStatus,
)
from platform_core.api.serializers import StrictSerializer

# Deliveries waiting for a time of their own: a delay, a digest window, quiet hours or a
# send window (pending), a retry (failed).
_SCHEDULED = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class DeliverySerializer(serializers.ModelSerializer):
    subscriber_id = serializers.CharField(source="subscriber_ref", allow_null=True)
    scheduled_for = serializers.SerializerMethodField(
        help_text="When a waiting (pending or failed) delivery will be sent: the end of a "
        "delay, digest window, quiet hours or closed send window, or its next retry; "
        "null otherwise. The history says why it waits."
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "notification_id",
            "subscriber_id",
            "channel",
            "status",
            "attempts",
            "provider",
            "variant",
            "workflow_version",
            "last_error",
            "next_attempt_at",
            "scheduled_for",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_scheduled_for(self, delivery: Delivery) -> str | None:
        if delivery.status not in _SCHEDULED or delivery.next_attempt_at is None:
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)


class DeliveryEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryEvent
        fields = [
            "created_at",
            "from_status",
            "status",
            "attempt",
            "provider",
            "error_class",
            "provider_response_code",
            "detail",
            "duration_ms",
        ]


class DeliveryDetailSerializer(DeliverySerializer):
    events = DeliveryEventSerializer(many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [
            *DeliverySerializer.Meta.fields,
            "template_key",
            "step_index",
            "sent_at",
            "events",
        ]


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "event",
            "status",
            "priority",
            "transaction_id",
            "event_version",
            "created_at",
            "processed_at",
        ]


class NotificationDetailSerializer(NotificationSerializer):
    stats = serializers.DictField(child=serializers.IntegerField())
    deliveries = DeliverySerializer(many=True)

    class Meta(NotificationSerializer.Meta):
        fields = [*NotificationSerializer.Meta.fields, "stats", "deliveries"]


class NotificationFilterSerializer(StrictSerializer):
    event = serializers.CharField(required=False, max_length=200)
    status = serializers.ChoiceField(choices=NotificationStatus.choices, required=False)
    subscriber_id = serializers.CharField(required=False, max_length=255)
    cursor = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)


class DeliveryFilterSerializer(StrictSerializer):
    notification_id = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    subscriber_id = serializers.CharField(required=False, max_length=255)
    cursor = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)


class QueueStatsSerializer(serializers.Serializer):
    waiting = serializers.IntegerField()
    active = serializers.IntegerField()
    scheduled = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    dead = serializers.IntegerField()
    broker_backlog = serializers.IntegerField(allow_null=True)
