"""Subscribers: input validation (strict: unknown fields are errors) and output shapes."""

from __future__ import annotations

from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifications.api.serializers.windows import WindowField
from notifications.models import Subscriber
from notifications.services.ids import SUBSCRIBER_ID_HELP, SUBSCRIBER_ID_MAX_LENGTH
from notifications.services.subscribers import (
    BULK_UPSERT_LIMIT,
    PREFERENCE_CHANNELS,
    normalize_locale,
    normalize_phone,
    validate_timezone,
)
from platform_core.api.serializers import StrictSerializer
from platform_core.errors import ApplicationError, ErrorKind


# More than `batch_limit` items in the `subscribers` list is a 413, checked before validating
# a thousand items. NOTE: no docstring: drf-spectacular would take it as the description of
# every serializer that has none of its own.
class BatchLimitMixin:
    batch_limit: int

    def to_internal_value(self, data):
        items = data.get("subscribers") if isinstance(data, dict) else None
        if isinstance(items, list) and len(items) > self.batch_limit:
            raise ApplicationError(
                "batch_too_large",
                f"At most {self.batch_limit} subscribers per call; got {len(items)}.",
                kind=ErrorKind.TOO_LARGE,
            )
        return super().to_internal_value(data)


class SubscriberFieldsSerializer(StrictSerializer):
    """The fields of a subscriber a client sets; all optional (PATCH)."""

    email = serializers.EmailField(
        max_length=254, required=False, allow_null=True, allow_blank=True
    )
    phone = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Any valid number in international format; stored as E.164 (+14155550123).",
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    locale = serializers.CharField(
        max_length=35, required=False, allow_blank=True, help_text="BCP 47 tag: en, fr-CA."
    )
    timezone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="IANA name: Europe/Paris."
    )
    data = serializers.DictField(required=False, help_text="Any JSON object, for templates.")
    quiet_hours = WindowField(
        help_text="Local to `timezone` (UTC when none): non-critical email, SMS and push "
        "due inside wait until the end; in-app and critical go at once. null clears."
    )

    def validate_email(self, value: str | None) -> str | None:
        return value or None

    def validate_phone(self, value: str | None) -> str | None:
        return normalize_phone(value) if value else None

    def validate_locale(self, value: str) -> str:
        return normalize_locale(value)

    def validate_timezone(self, value: str) -> str:
        return validate_timezone(value)


class SubscriberInputSerializer(SubscriberFieldsSerializer):
    """A subscriber to upsert: `subscriber_id` plus any fields. Reused for inline recipients."""

    # The id rule is checked when a subscriber is created (by the service): an existing
    # subscriber with an older id can still be upserted.
    subscriber_id = serializers.CharField(
        max_length=SUBSCRIBER_ID_MAX_LENGTH, help_text=SUBSCRIBER_ID_HELP
    )


class SubscriberOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subscriber
        fields = [
            "subscriber_id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "locale",
            "timezone",
            "data",
            "quiet_hours",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SubscriberBulkInputSerializer(BatchLimitMixin, StrictSerializer):
    batch_limit = BULK_UPSERT_LIMIT

    # The count is checked first (413 `batch_too_large`); max_length documents it (maxItems).
    subscribers = SubscriberInputSerializer(
        many=True, allow_empty=True, max_length=BULK_UPSERT_LIMIT
    )


class SubscriberBulkOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


# --- credentials ---------------------------------------------------------------------------


class HttpUrlField(serializers.URLField):
    """An http(s) URL (no ftp, no javascript:)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 2048)
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, URLValidator)] + [
            URLValidator(schemes=["http", "https"], message="Enter a valid http(s) URL.")
        ]


class FcmCredentialsSerializer(StrictSerializer):
    device_tokens = serializers.ListField(
        child=serializers.CharField(max_length=4096), max_length=100
    )


class WebPushKeysSerializer(StrictSerializer):
    p256dh = serializers.CharField(max_length=255)
    auth = serializers.CharField(max_length=255)


class WebPushSubscriptionSerializer(StrictSerializer):
    """A browser's `PushSubscription.toJSON()`."""

    endpoint = HttpUrlField()
    keys = WebPushKeysSerializer()
    expirationTime = serializers.IntegerField(required=False, allow_null=True)  # noqa: N815


class WebPushCredentialsSerializer(StrictSerializer):
    subscriptions = WebPushSubscriptionSerializer(many=True, max_length=20)


class WebhookCredentialsSerializer(StrictSerializer):
    webhook_url = HttpUrlField()


# Provider → the shape of its credentials; also the list of providers accepted.
CREDENTIALS_SERIALIZERS: dict[str, type[StrictSerializer]] = {
    "fcm": FcmCredentialsSerializer,
    "webpush": WebPushCredentialsSerializer,
    "slack": WebhookCredentialsSerializer,
    "webhook": WebhookCredentialsSerializer,
}


class CredentialsOutputSerializer(serializers.Serializer):
    provider = serializers.CharField()
    credentials = serializers.DictField()


# --- preferences ---------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "boolean"},
        "description": f"Channel → enabled; channels: {', '.join(PREFERENCE_CHANNELS)}.",
        "example": {"email": True, "sms": False},
    }
)
class ChannelFlagsField(serializers.Field):
    """`{"email": true, "sms": false}`: known channels only, real booleans only."""

    default_error_messages = {"not_a_dict": "Expected an object of channel: true/false."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict")
        errors: dict[str, list[str]] = {}
        for channel, enabled in data.items():
            if channel not in PREFERENCE_CHANNELS:
                errors[str(channel)] = [
                    f"Unknown channel; use one of {', '.join(PREFERENCE_CHANNELS)}."
                ]
            elif not isinstance(enabled, bool):
                errors[channel] = ["Must be true or false."]
        if errors:
            raise serializers.ValidationError(errors)
        return dict(data)

    def to_representation(self, value):
        return dict(value or {})


class PreferencesSerializer(StrictSerializer):
    """Replaces all preferences: a section left out becomes empty."""

    channels = ChannelFlagsField(required=False, default=dict)
    workflows = serializers.DictField(
        child=ChannelFlagsField(),
        required=False,
        default=dict,
        help_text="Workflow key → channel flags, overriding `channels` for that workflow.",
    )

    def validate_workflows(self, value: dict) -> dict:
        too_long = [key for key in value if len(key) > 100]
        if too_long:
            raise serializers.ValidationError("Workflow keys are at most 100 characters.")
        return value


# --- errors (for the OpenAPI schema) -------------------------------------------------------


class ApiErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class ApiErrorSerializer(serializers.Serializer):
    """The error envelope every API error uses."""

    error = ApiErrorDetailSerializer()
