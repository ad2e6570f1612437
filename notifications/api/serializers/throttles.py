"""Request and response shapes of the throttles API. Inputs check shape; the service checks
meaning (the workflow exists)."""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import Channel, Throttle
from notifications.services.config import KEY_MAX_LENGTH, key_validator
from notifications.services.config.throttles import (
    THROTTLE_LIMIT_MAX,
    THROTTLE_WINDOW_MAX_SECONDS,
)
from platform_core.api.serializers import StrictSerializer


class ThrottleInSerializer(StrictSerializer):
    """At most `limit` deliveries per subscriber in any `window_seconds`."""

    key = serializers.CharField(max_length=KEY_MAX_LENGTH, validators=[key_validator])
    limit = serializers.IntegerField(min_value=1, max_value=THROTTLE_LIMIT_MAX)
    window_seconds = serializers.IntegerField(min_value=1, max_value=THROTTLE_WINDOW_MAX_SECONDS)
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        allow_null=True,
        default=None,
        help_text="Only deliveries on this channel count and are limited; null: every channel.",
    )
    workflow = serializers.CharField(
        max_length=KEY_MAX_LENGTH,
        validators=[key_validator],
        allow_null=True,
        default=None,
        help_text="Only this workflow's deliveries count and are limited; null: every workflow.",
    )
    applies_to_critical = serializers.BooleanField(
        default=False,
        help_text="Whether critical deliveries (critical workflow or priority) are limited too.",
    )


class ThrottleReplaceSerializer(ThrottleInSerializer):
    """PUT: every field is set; omitted ones take their defaults. `key` may repeat the URL's."""

    key = serializers.CharField(max_length=KEY_MAX_LENGTH, required=False)

    def validate(self, attrs):
        in_url = self.context["key"]
        if attrs.get("key", in_url) != in_url:
            raise serializers.ValidationError({"key": [f"Does not match the URL ('{in_url}')."]})
        attrs.pop("key", None)
        return attrs


class ThrottleOutSerializer(serializers.ModelSerializer):
    """A throttle; `channel` and `workflow` are null when it applies to every one."""

    channel = serializers.SerializerMethodField()
    workflow = serializers.SerializerMethodField()

    class Meta:
        model = Throttle
        fields = (
            "key",
            "limit",
            "window_seconds",
            "channel",
            "workflow",
            "applies_to_critical",
            "created_at",
            "updated_at",
        )

    def get_channel(self, throttle: Throttle) -> str | None:
        return throttle.channel or None

    def get_workflow(self, throttle: Throttle) -> str | None:
        return throttle.workflow_key or None
