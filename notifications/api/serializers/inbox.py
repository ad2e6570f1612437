from rest_framework import serializers

from notifications.models import InboxMessage
from platform_core.api.serializers import StrictSerializer


class InboxMessageSerializer(serializers.ModelSerializer):
    read = serializers.SerializerMethodField()
    seen = serializers.SerializerMethodField()

    class Meta:
        model = InboxMessage
        fields = ["id", "title", "body", "cta_url", "read", "seen", "created_at"]

    def get_read(self, obj) -> bool:
        return obj.read_at is not None

    def get_seen(self, obj) -> bool:
        return obj.seen_at is not None


class InboxFilterSerializer(StrictSerializer):
    status = serializers.ChoiceField(
        choices=["unread", "read", "all"], required=False, default="all"
    )
    cursor = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)


class InboxCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()
    unseen = serializers.IntegerField()
