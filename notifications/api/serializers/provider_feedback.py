"""Suppressed addresses."""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import Channel, Suppression
from platform_core.api.serializers import StrictSerializer


class SuppressionSerializer(serializers.ModelSerializer):
    delivery_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Suppression
        fields = ["id", "channel", "address", "reason", "delivery_id", "created_at"]
        read_only_fields = fields


class SuppressionFilterSerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    address = serializers.CharField(required=False, max_length=320)
    cursor = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)
