"""Request and response shapes of the delivery-feedback API: webhook endpoints and their
attempts, A/B results, analytics."""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import WEBHOOK_EVENTS, WebhookAttempt, WebhookEndpoint
from notifications.services.feedback import URL_MAX_LENGTH
from platform_core.api.serializers import StrictSerializer

_EVENTS_HELP = "Delivery events to receive: " + ", ".join(f"`{e}`" for e in WEBHOOK_EVENTS) + "."


class WebhookEndpointInSerializer(StrictSerializer):
    """A new endpoint: where to post, which events, whether on."""

    url = serializers.CharField(max_length=URL_MAX_LENGTH, help_text="An http(s) URL.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENTS),
        allow_empty=False,
        max_length=len(WEBHOOK_EVENTS),
        help_text=_EVENTS_HELP,
    )
    active = serializers.BooleanField(default=True)


class WebhookEndpointPatchSerializer(WebhookEndpointInSerializer):
    """PATCH: any of the fields; `active: true` also clears an automatic disable."""

    url = serializers.CharField(max_length=URL_MAX_LENGTH, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENTS),
        allow_empty=False,
        max_length=len(WEBHOOK_EVENTS),
        required=False,
    )
    active = serializers.BooleanField(required=False)


class WebhookEndpointOutSerializer(serializers.ModelSerializer):
    """An endpoint; `disabled_reason` says why the platform turned it off, if it did."""

    events = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = WebhookEndpoint
        fields = (
            "id",
            "url",
            "events",
            "active",
            "failing_since",
            "disabled_reason",
            "created_at",
            "updated_at",
        )


class WebhookEndpointCreatedSerializer(WebhookEndpointOutSerializer):
    """The endpoint just created, with its signing secret: shown this once."""

    secret = serializers.CharField(
        help_text="`whsec_<base64>`: verify `webhook-signature` with it (Standard Webhooks)."
    )

    class Meta(WebhookEndpointOutSerializer.Meta):
        fields = (*WebhookEndpointOutSerializer.Meta.fields, "secret")


class WebhookAttemptSerializer(serializers.ModelSerializer):
    """One POST of one event: its response code or error and its duration."""

    webhook_id = serializers.CharField(source="message.webhook_id")
    event_type = serializers.CharField(source="message.event_type")
    delivery_id = serializers.SerializerMethodField()

    class Meta:
        model = WebhookAttempt
        fields = (
            "id",
            "webhook_id",
            "event_type",
            "delivery_id",
            "attempt",
            "succeeded",
            "response_code",
            "error",
            "duration_ms",
            "created_at",
        )

    def get_delivery_id(self, obj) -> int | None:
        return (obj.message.payload.get("data") or {}).get("delivery_id")


class VariantResultSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="`control` is the base template.")
    sent = serializers.IntegerField(help_text="Deliveries that reached sent or a later status.")
    delivered = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="Opened or clicked.")
    clicked = serializers.IntegerField()
    click_rate = serializers.FloatField(allow_null=True, help_text="clicked / sent.")
    click_rate_ci = serializers.ListField(
        child=serializers.FloatField(), help_text="95% Wilson score interval of click_rate."
    )
    open_rate = serializers.FloatField(allow_null=True, help_text="opened / sent.")
    p_value_vs_control = serializers.FloatField(
        allow_null=True,
        help_text="Two-sided two-proportion z-test of click_rate against control's; null for "
        "control or without sends.",
    )


class AbResultsSerializer(serializers.Serializer):
    variants = VariantResultSerializer(many=True)
    winner = serializers.CharField(
        allow_null=True,
        help_text="The variant whose click rate beats control's at 95% significance; else null.",
    )


class AnalyticsRowSerializer(serializers.Serializer):
    day = serializers.CharField(required=False, help_text="YYYY-MM-DD (UTC), with group_by=day.")
    hour = serializers.CharField(required=False, help_text="YYYY-MM-DDTHH:00:00Z, group_by=hour.")
    channel = serializers.CharField(required=False)
    event = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    count = serializers.IntegerField()


class AnalyticsSerializer(serializers.Serializer):
    rows = AnalyticsRowSerializer(many=True)
