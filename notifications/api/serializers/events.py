"""Request bodies of the events endpoints."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifications.api.serializers.subscribers import SubscriberInputSerializer
from notifications.models import Priority
from notifications.services.ids import SUBSCRIBER_ID_MAX_LENGTH, id_normalize
from platform_core.api.serializers import FieldsBoundOncePerThread, StrictSerializer
from platform_core.errors import ApplicationError, ErrorKind

MAX_RECIPIENTS = 100
MAX_BULK_EVENTS = 100


SUBSCRIBER_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["subscriber_id"],
    "properties": {
        "subscriber_id": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "phone": {"type": "string", "description": "E.164 after normalisation"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "locale": {"type": "string"},
        "timezone": {"type": "string"},
        "data": {"type": "object"},
    },
}


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "a subscriber id"},
            SUBSCRIBER_OBJECT_SCHEMA,
            {
                "type": "object",
                "required": ["topic"],
                "properties": {"topic": {"type": "string"}},
                "additionalProperties": False,
            },
        ]
    }
)
class RecipientField(serializers.Field):
    """A `to` entry: a subscriber id, an inline subscriber object, or `{"topic": key}`."""

    default_error_messages = {
        "invalid": 'Give a subscriber id, a subscriber object or {{"topic": "<key>"}}.'
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = id_normalize(data)
            if not data or len(data) > SUBSCRIBER_ID_MAX_LENGTH:
                raise serializers.ValidationError("A subscriber id is 1 to 255 characters.")
            return data
        if isinstance(data, dict) and "topic" in data:
            if set(data) != {"topic"}:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in sorted(set(data) - {"topic"})}
                )
            if not isinstance(data["topic"], str) or not data["topic"]:
                raise serializers.ValidationError({"topic": ["A topic key is required."]})
            return {"topic": data["topic"]}
        if isinstance(data, dict):
            inline = SubscriberInputSerializer(data=data)
            inline.is_valid(raise_exception=True)
            return dict(inline.validated_data)
        self.fail("invalid")

    def to_representation(self, value):
        return value


@extend_schema_field(
    {"oneOf": [{"type": "string", "description": "a subscriber id"}, SUBSCRIBER_OBJECT_SCHEMA]}
)
class ActorField(RecipientField):
    default_error_messages = {"invalid": "Give a subscriber id or a subscriber object."}

    def to_internal_value(self, data):
        if isinstance(data, dict) and "topic" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class BroadcastSerializer(FieldsBoundOncePerThread, StrictSerializer):
    event = serializers.CharField(max_length=200)
    payload = serializers.DictField(required=False, default=dict)
    actor = ActorField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    transaction_id = serializers.CharField(max_length=255, required=False)
    event_version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The event's schema version the payload follows (default: the highest "
        "registered); routes bound to it take the event.",
    )


class TriggerSerializer(BroadcastSerializer):
    # The count is checked first (`too_many_recipients`); max_length documents it (maxItems).
    to = serializers.ListField(child=RecipientField(), min_length=1, max_length=MAX_RECIPIENTS)

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("to"), list):
            if len(data["to"]) > MAX_RECIPIENTS:
                raise ApplicationError(
                    "too_many_recipients",
                    f"`to` holds {len(data['to'])} entries; at most {MAX_RECIPIENTS} "
                    "(a topic counts as one).",
                    kind=ErrorKind.VALIDATION,
                    fields={"to": [f"At most {MAX_RECIPIENTS} entries."]},
                )
        return super().to_internal_value(data)


class BulkTriggerSerializer(StrictSerializer):
    events = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=MAX_BULK_EVENTS
    )

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("events"), list):
            if len(data["events"]) > MAX_BULK_EVENTS:
                raise ApplicationError(
                    "batch_too_large",
                    f"At most {MAX_BULK_EVENTS} events per bulk request.",
                    kind=ErrorKind.TOO_LARGE,
                    fields={"events": [f"At most {MAX_BULK_EVENTS} entries."]},
                )
        return super().to_internal_value(data)


class TriggerAcceptedSerializer(serializers.Serializer):
    notification_id = serializers.UUIDField()
    transaction_id = serializers.CharField()
    status = serializers.CharField()
