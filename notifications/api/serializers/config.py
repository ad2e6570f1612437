"""Request and response shapes of the configuration API (templates, workflows, routes,
integrations). Inputs only check shape; services check meaning (template syntax, references)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from connectors.registry import UnknownProvider, get_connector_class
from notifications.api.serializers.events import ActorField
from notifications.api.serializers.subscribers import SubscriberInputSerializer
from notifications.api.serializers.windows import WindowField
from notifications.models import (
    Channel,
    Integration,
    Priority,
    StepType,
    Template,
    TemplateFormat,
    Workflow,
)
from notifications.pipeline.feedback.provider import integration_webhook_url, tenant_base_url
from notifications.services.config import (
    DEFAULT_MAX_ATTEMPTS,
    KEY_MAX_LENGTH,
    MAX_ATTEMPTS_RANGE,
    MAX_STEPS,
    MAX_VARIANTS,
    event_validator,
    key_validator,
    locale_validator,
    workflow_step_representation,
)
from platform_core.api.serializers import StrictSerializer

NON_FIELD_ERRORS_KEY = api_settings.NON_FIELD_ERRORS_KEY


def _default_locale() -> str:
    return settings.CLARION_DEFAULT_LOCALE


def _key_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=KEY_MAX_LENGTH, validators=[key_validator], **kwargs)


def _url_match(attrs: dict, context: dict, name: str) -> None:
    """PUT bodies may repeat the URL's identifier, but must not contradict it."""
    in_url = context[name]
    if attrs.get(name, in_url) != in_url:
        raise serializers.ValidationError({name: [f"Does not match the URL ('{in_url}')."]})
    attrs[name] = in_url


class _ListSerializer(serializers.ListSerializer):
    """Reports list-level errors ("Expected a list", too many items) on the list's own field,
    not on `<field>.non_field_errors`."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict) and set(exc.detail) == {NON_FIELD_ERRORS_KEY}:
                raise serializers.ValidationError(exc.detail[NON_FIELD_ERRORS_KEY]) from None
            raise


class _NestedSerializer(StrictSerializer):
    """A nested object: "Expected an object" is reported on its own field."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(["Expected an object."])
        return super().to_internal_value(data)


# --- templates ---------------------------------------------------------------------------


class TemplateVariantSerializer(_NestedSerializer):
    """An A/B variant; empty subject or body fall back to the template's own."""

    class Meta:
        list_serializer_class = _ListSerializer

    name = serializers.CharField(max_length=100)
    weight = serializers.IntegerField(min_value=0, max_value=1_000_000, default=1)
    subject = serializers.CharField(allow_blank=True, required=False, default="")
    body = serializers.CharField()


class TemplateInSerializer(StrictSerializer):
    """A template for one channel and locale, in sandboxed Jinja2."""

    key = _key_field()
    channel = serializers.ChoiceField(choices=Channel.choices)
    locale = serializers.CharField(
        max_length=35, validators=[locale_validator], default=_default_locale
    )
    subject = serializers.CharField(allow_blank=True, required=False, default="")
    body = serializers.CharField()
    cta_url = serializers.CharField(allow_blank=True, required=False, default="")
    format = serializers.ChoiceField(
        choices=TemplateFormat.choices,
        default=TemplateFormat.HTML,
        help_text="`mjml` (email only): the body and the variants' bodies are MJML, compiled "
        "on save (400 `mjml_invalid` with the compiler's message) and sent as responsive HTML "
        "with a plain-text part. Jinja tags are kept through the compile and rendered after "
        "it, autoescaped; `mj-include` is not available.",
    )
    variants = TemplateVariantSerializer(many=True, required=False, max_length=MAX_VARIANTS)

    def validate(self, attrs):
        attrs.setdefault("variants", [])
        return attrs


class TemplateReplaceSerializer(TemplateInSerializer):
    """PUT: `key` comes from the URL, `locale` from the body, `?locale=` or the default."""

    key = _key_field(required=False)
    locale = serializers.CharField(max_length=35, validators=[locale_validator], required=False)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        _url_match(attrs, self.context, "key")
        query_locale = self.context.get("locale")
        if query_locale and attrs.get("locale", query_locale) != query_locale:
            raise serializers.ValidationError(
                {"locale": [f"Does not match ?locale= ('{query_locale}')."]}
            )
        attrs["locale"] = attrs.get("locale") or query_locale or _default_locale()
        return attrs


class TemplateVariantOutSerializer(serializers.Serializer):
    """An A/B variant of a template."""

    name = serializers.CharField()
    weight = serializers.IntegerField()
    subject = serializers.CharField()
    body = serializers.CharField()


class TemplateOutSerializer(serializers.ModelSerializer):
    """A template in one locale, with its variants."""

    variants = TemplateVariantOutSerializer(many=True, read_only=True)

    class Meta:
        model = Template
        fields = [
            "key",
            "channel",
            "locale",
            "subject",
            "body",
            "format",
            "cta_url",
            "variants",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TemplateSavedSerializer(TemplateOutSerializer):
    """A template as saved, with warnings that did not stop the save."""

    warnings = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Payload keys the template reads that the schemas of its events do not "
        "declare; the template is saved all the same.",
    )

    class Meta(TemplateOutSerializer.Meta):
        fields = [*TemplateOutSerializer.Meta.fields, "warnings"]
        read_only_fields = fields


# --- workflows ---------------------------------------------------------------------------


class StepConditionSerializer(_NestedSerializer):
    """Send only if the in-app message of an earlier step is still unread."""

    unread = serializers.IntegerField(
        min_value=0, help_text="Index of an earlier in_app send step that must still be unread."
    )


class SendStepSerializer(StrictSerializer):
    """Send a template on a channel."""

    type = serializers.ChoiceField(choices=[StepType.SEND.value])
    channel = serializers.ChoiceField(choices=Channel.choices)
    template = _key_field(help_text="Key of a template of the same channel.")
    condition = StepConditionSerializer(required=False)


class DelayStepSerializer(StrictSerializer):
    """Wait before the next step."""

    type = serializers.ChoiceField(choices=[StepType.DELAY.value])
    seconds = serializers.IntegerField(help_text="1 second to 30 days.")


class DigestStepSerializer(StrictSerializer):
    """Gather the events of a window into one message for the steps after it."""

    type = serializers.ChoiceField(choices=[StepType.DIGEST.value])
    window_seconds = serializers.IntegerField(help_text="1 second to 1 day.")


_STEP_SERIALIZERS: dict[str, type[StrictSerializer]] = {
    StepType.SEND: SendStepSerializer,
    StepType.DELAY: DelayStepSerializer,
    StepType.DIGEST: DigestStepSerializer,
}

_STEP_SCHEMA = PolymorphicProxySerializer(
    component_name="WorkflowStep",
    serializers={str(kind): serializer for kind, serializer in _STEP_SERIALIZERS.items()},
    resource_type_field_name="type",
)


@extend_schema_field(_STEP_SCHEMA)
class WorkflowStepField(serializers.Field):
    """One step; its `type` decides which fields it takes (and any other field is refused)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(["Expected an object."])
        step_type = data.get("type")
        serializer_class = _STEP_SERIALIZERS.get(step_type) if isinstance(step_type, str) else None
        if serializer_class is None:
            raise serializers.ValidationError(
                {"type": [f"Use one of: {', '.join(StepType.values)}."]}
            )
        step = serializer_class(data=data)
        if not step.is_valid():
            raise serializers.ValidationError(step.errors)
        data = dict(step.validated_data)
        if "condition" in data:
            data["condition"] = dict(data["condition"])
        return data

    def to_representation(self, step):
        return workflow_step_representation(step)


class WorkflowInSerializer(StrictSerializer):
    """A workflow: ordered send, delay and digest steps."""

    key = _key_field()
    name = serializers.CharField(max_length=200)
    critical = serializers.BooleanField(
        default=False, help_text="Critical workflows bypass preferences and are never digested."
    )
    send_window = WindowField(
        help_text="Local to each subscriber's time zone: non-critical email, SMS and push are "
        "sent only inside it (held until it opens); in-app goes at once. null: any time."
    )
    track_clicks = serializers.BooleanField(
        default=True,
        help_text="Links in its email, SMS, push and in-app messages go through "
        "/t/c/<token>; a click makes the delivery `clicked`.",
    )
    track_opens = serializers.BooleanField(
        default=False,
        help_text="Its emails carry an open pixel (/t/o/<token>.gif); a load makes the "
        "delivery `opened`.",
    )
    steps = serializers.ListField(child=WorkflowStepField(), max_length=MAX_STEPS)


class WorkflowReplaceSerializer(WorkflowInSerializer):
    """PUT: the whole workflow; `key` comes from the URL (repeating it is allowed)."""

    key = _key_field(required=False)

    def validate(self, attrs):
        _url_match(attrs, self.context, "key")
        return attrs


class WorkflowVersionInSerializer(WorkflowInSerializer):
    """POST /versions: the same body as PUT; `key` may repeat the URL's, `name` is not
    versioned (PUT changes it)."""

    key = _key_field(required=False)
    name = serializers.CharField(max_length=200, required=False)

    def validate(self, attrs):
        _url_match(attrs, self.context, "key")
        return attrs


class RolloutSerializer(serializers.Serializer):
    """A version being sent to a share of the subscribers."""

    version = serializers.IntegerField()
    percent = serializers.FloatField()


class WorkflowOutSerializer(serializers.ModelSerializer):
    """A workflow, its steps in the same list format as they are written; `version` is the
    live version (whose steps these are), `rollout` the one sent to a share, if any."""

    steps = serializers.ListField(child=WorkflowStepField(), source="steps.all", read_only=True)
    rollout = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = [
            "key",
            "name",
            "critical",
            "send_window",
            "track_clicks",
            "track_opens",
            "steps",
            "version",
            "rollout",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(RolloutSerializer(allow_null=True))
    def get_rollout(self, workflow: Workflow) -> dict | None:
        if workflow.rollout_version is None:
            return None
        return {"version": workflow.rollout_version, "percent": float(workflow.rollout_percent)}


class WorkflowVersionOutSerializer(serializers.Serializer):
    """One immutable version of a workflow: its flags and steps as they were written."""

    version = serializers.IntegerField(source="number")
    live = serializers.SerializerMethodField()
    rollout_percent = serializers.SerializerMethodField(
        help_text="The share of subscribers it is rolled out to; null unless being rolled out."
    )
    critical = serializers.BooleanField(source="snapshot.critical")
    send_window = serializers.JSONField(source="snapshot.send_window", allow_null=True)
    steps = serializers.ListField(child=serializers.DictField(), source="snapshot.steps")
    created_at = serializers.DateTimeField()

    def get_live(self, version) -> bool:
        return version.number == version.workflow.version

    def get_rollout_percent(self, version) -> float | None:
        workflow = version.workflow
        if workflow.rollout_version != version.number:
            return None
        return float(workflow.rollout_percent)


class RolloutInSerializer(StrictSerializer):
    """Send `version` to `percent` % of subscribers (stable per subscriber)."""

    version = serializers.IntegerField(min_value=1)
    percent = serializers.JSONField(help_text="0 to 100, at most two decimals.")


class RollbackInSerializer(StrictSerializer):
    """Make `version` live again for everyone."""

    version = serializers.IntegerField(min_value=1)


# --- routes ------------------------------------------------------------------------------

_MIN_ATTEMPTS, _MAX_ATTEMPTS = MAX_ATTEMPTS_RANGE


class RouteInSerializer(StrictSerializer):
    """An event name routed to a workflow."""

    event = serializers.CharField(max_length=200, validators=[event_validator])
    workflow = _key_field(help_text="Key of the workflow this event runs.")
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    active = serializers.BooleanField(default=True)
    max_attempts = serializers.IntegerField(
        min_value=_MIN_ATTEMPTS, max_value=_MAX_ATTEMPTS, default=DEFAULT_MAX_ATTEMPTS
    )
    event_version = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Only triggers of this event version take the route (null: any version "
        "without a route of its own).",
    )


class RouteReplaceSerializer(RouteInSerializer):
    """PUT (every field, defaults applied) and PATCH (`partial=True`: only those given).
    `event_version` is part of the route's identity (`?event_version=`): it may be repeated,
    not changed."""

    event = serializers.CharField(max_length=200, required=False)

    def validate(self, attrs):
        _url_match(attrs, self.context, "event")
        _url_match(attrs, self.context, "event_version")
        attrs.pop("event_version")
        return attrs


class RouteOutSerializer(serializers.Serializer):
    """A route: event name → workflow key, priority, active flag, attempt budget."""

    event = serializers.CharField()
    event_version = serializers.IntegerField(allow_null=True)
    workflow = serializers.CharField(source="workflow.key")
    priority = serializers.ChoiceField(choices=Priority.choices)
    active = serializers.BooleanField()
    max_attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


# --- event schemas -----------------------------------------------------------------------


class EventSchemaInSerializer(StrictSerializer):
    """A JSON Schema (2020-12) for one version of an event's payload."""

    schema = serializers.JSONField(
        help_text="A JSON Schema 2020-12 document (an object, at most 64 KB); only "
        "references inside it (`#/...`) are allowed."
    )


class EventSchemaOutSerializer(serializers.Serializer):
    """One version of an event's payload schema."""

    event = serializers.CharField()
    version = serializers.IntegerField()
    schema = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


# --- integrations ------------------------------------------------------------------------


class IntegrationInSerializer(StrictSerializer):
    """A provider account for a channel; `settings` and `credentials` depend on the provider."""

    channel = serializers.ChoiceField(choices=Channel.choices)
    provider = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    settings = serializers.DictField(default=dict)
    credentials = serializers.DictField(
        default=dict, write_only=True, help_text="Write-only; stored encrypted, never returned."
    )
    primary = serializers.BooleanField(default=True)
    active = serializers.BooleanField(default=True)


class IntegrationReplaceSerializer(IntegrationInSerializer):
    """PUT and PATCH: without `credentials` the stored ones are kept."""

    credentials = serializers.DictField(
        required=False,
        write_only=True,
        help_text="Write-only; omit to keep the stored credentials, `{}` to clear them.",
    )


class IntegrationOutSerializer(serializers.ModelSerializer):
    """A provider account; its credentials are never returned, only whether it has some."""

    has_credentials = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField(
        help_text="Where the provider posts delivery events (paste it into its console); "
        "null for providers that send none."
    )

    class Meta:
        model = Integration
        fields = [
            "id",
            "channel",
            "provider",
            "name",
            "settings",
            "has_credentials",
            "webhook_url",
            "primary",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_credentials(self, integration: Integration) -> bool:
        return bool(integration.credentials)

    def get_webhook_url(self, integration: Integration) -> str | None:
        try:
            receives = get_connector_class(integration.provider).receives_webhooks
        except UnknownProvider:
            receives = False
        if not receives:
            return None
        # One look-up of the tenant's host per response, however many integrations.
        if "tenant_base_url" not in self.context:
            self.context["tenant_base_url"] = tenant_base_url()
        return integration_webhook_url(integration.pk, base_url=self.context["tenant_base_url"])


class TemplatePreviewInSerializer(StrictSerializer):
    payload = serializers.DictField(required=False, default=dict)
    subscriber_id = serializers.CharField(
        required=False, max_length=255, help_text="A stored subscriber to render for."
    )
    subscriber = serializers.DictField(
        required=False,
        help_text="An inline subscriber (`subscriber_id` plus any fields), merged over the "
        "stored one of that id as a trigger's upsert would be.",
    )
    actor = serializers.JSONField(
        required=False, help_text="A subscriber id or an inline subscriber, as in a trigger."
    )
    locale = serializers.CharField(required=False, max_length=35)
    variant = serializers.CharField(
        required=False,
        max_length=100,
        help_text="The A/B variant to render (`control`: the base template); default: the "
        "one the subscriber gets.",
    )

    def validate_subscriber(self, value):
        inline = SubscriberInputSerializer(data=value)
        inline.is_valid(raise_exception=True)
        return dict(inline.validated_data)

    def validate_actor(self, value):
        return ActorField().run_validation(value)

    def validate(self, attrs):
        if "subscriber_id" in attrs and "subscriber" in attrs:
            raise serializers.ValidationError(
                {"subscriber": ["Give `subscriber_id` or `subscriber`, not both."]}
            )
        return attrs


class TemplatePreviewOutSerializer(serializers.Serializer):
    subject = serializers.CharField()
    body = serializers.CharField(help_text="The body as the channel gets it (HTML for email).")
    html = serializers.CharField(required=False, help_text="Email: the HTML part.")
    text = serializers.CharField(required=False, help_text="Email: the plain-text part.")
    cta_url = serializers.CharField(required=False)
    channel = serializers.CharField()
    locale = serializers.CharField(help_text="The locale of the template rendered.")
    variant = serializers.CharField(help_text="The variant rendered (`control`: the base).")
