"""Topics: input validation (strict) and output shapes."""

from __future__ import annotations

from rest_framework import serializers

from notifications.api.serializers.subscribers import BatchLimitMixin
from notifications.models import Topic
from notifications.services.ids import (
    SUBSCRIBER_ID_MAX_LENGTH,
    TOPIC_KEY_HELP,
    TOPIC_KEY_MAX_LENGTH,
    topic_key_validator,
)
from notifications.services.topics import TOPIC_MEMBERSHIP_LIMIT
from platform_core.api.serializers import StrictSerializer


class TopicInputSerializer(StrictSerializer):
    key = serializers.CharField(
        max_length=TOPIC_KEY_MAX_LENGTH, validators=[topic_key_validator], help_text=TOPIC_KEY_HELP
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class TopicOutputSerializer(serializers.ModelSerializer):
    subscriber_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Topic
        fields = ["key", "name", "subscriber_count", "created_at", "updated_at"]
        read_only_fields = fields


class TopicSubscribersInputSerializer(BatchLimitMixin, StrictSerializer):
    batch_limit = TOPIC_MEMBERSHIP_LIMIT

    subscribers = serializers.ListField(
        child=serializers.CharField(max_length=SUBSCRIBER_ID_MAX_LENGTH),
        max_length=TOPIC_MEMBERSHIP_LIMIT,
        help_text=(
            f"Subscriber ids, at most {TOPIC_MEMBERSHIP_LIMIT}; unknown ones are created and "
            "must follow the subscriber id rule."
        ),
    )


class TopicSubscribersAddedSerializer(serializers.Serializer):
    added = serializers.IntegerField()


class TopicSubscribersRemovedSerializer(serializers.Serializer):
    removed = serializers.IntegerField()


class TopicSubscriberOutputSerializer(serializers.Serializer):
    subscriber_id = serializers.CharField(source="subscriber.subscriber_id")
    subscribed_at = serializers.DateTimeField(source="created_at")
