"""Configuration rows operators edit without a deploy: templates, workflows, routes, providers."""

from __future__ import annotations

from django.db import models

from connectors import channels
from notifications.models.audit import audited

# The channel vocabulary is defined once, in `connectors.channels`; these are its choices.
Channel = models.TextChoices(
    "Channel", [(name.name, (name.value, name.label)) for name in channels.Channel]
)


class Priority(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    NORMAL = "normal", "Normal"
    LOW = "low", "Low"


class TemplateFormat(models.TextChoices):
    # The body as written: HTML for email, text for the other channels.
    HTML = "html", "HTML"
    # Email only: MJML, compiled to responsive HTML (notifications.rendering.mjml).
    MJML = "mjml", "MJML"


class StepType(models.TextChoices):
    SEND = "send", "Send"
    DELAY = "delay", "Delay"
    DIGEST = "digest", "Digest"


@audited("template", key="key")
class Template(models.Model):
    """Content for one channel and locale, written in sandboxed Jinja2."""

    key = models.CharField(max_length=100)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    locale = models.CharField(max_length=35, default="en")
    subject = models.TextField(blank=True, default="")
    body = models.TextField()
    # The format of the body and of its variants' bodies.
    format = models.CharField(
        max_length=10, choices=TemplateFormat.choices, default=TemplateFormat.HTML
    )
    # In-app call-to-action link (templated too).
    cta_url = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key", "locale"]
        constraints = [
            models.UniqueConstraint(fields=["key", "locale"], name="template_key_locale_unique")
        ]

    def __str__(self) -> str:
        return f"{self.key} [{self.locale}]"


@audited("template", parent="template", collection="variants", order="name")
class TemplateVariant(models.Model):
    """An A/B variant: a subscriber always gets the same one, chosen by weight."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=100)
    weight = models.PositiveIntegerField(default=1)
    subject = models.TextField(blank=True, default="")
    body = models.TextField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["template", "name"], name="variant_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.template.key}/{self.name}"


@audited("workflow", key="key")
class Workflow(models.Model):
    """What happens for an event: ordered steps (send, delay, digest)."""

    key = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    # Critical workflows bypass preferences and are never digested.
    critical = models.BooleanField(default=False)
    # {"start": "09:00", "end": "20:00"} in the subscriber's time zone: non-critical email,
    # SMS and push are sent only inside it (notifications.pipeline.quiet_hours).
    send_window = models.JSONField(null=True, blank=True)
    # Links in its messages go through /t/c/<token> (a click makes the delivery `clicked`);
    # its emails carry an open pixel (/t/o/<token>.gif).
    track_clicks = models.BooleanField(default=True)
    track_opens = models.BooleanField(default=False)
    # The live version's number; `critical`, `send_window` and the steps above mirror it.
    version = models.PositiveIntegerField(default=1)
    # A version sent to `rollout_percent` % of subscribers (stable by subscriber), the live
    # one to the rest; both null when nothing is being rolled out.
    rollout_version = models.PositiveIntegerField(null=True, blank=True)
    rollout_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key if self.name in ("", self.key) else f"{self.name} ({self.key})"


class WorkflowVersion(models.Model):
    """An immutable snapshot of a workflow's steps and flags, numbered from 1.

    `snapshot` is `{"critical", "send_window", "steps"}`, the steps in the API's list format;
    notifications run the version they started with, whatever the workflow says later.
    """

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="workflow_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} v{self.number}"


@audited("workflow", parent="workflow", collection="steps", order="position")
class WorkflowStep(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    type = models.CharField(max_length=10, choices=StepType.choices, default=StepType.SEND)
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True, default="")
    template_key = models.CharField(max_length=100, blank=True, default="")
    # Delay length (delay) or window length (digest), in seconds.
    seconds = models.PositiveIntegerField(null=True, blank=True)
    # Send only if the in-app message of the step at this index is still unread.
    unread_step = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["workflow", "position"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "position"], name="step_position_unique")
        ]

    def __str__(self) -> str:
        if self.type == StepType.SEND:
            return f"Step {self.position}: send '{self.template_key}' by {self.channel}"
        return f"Step {self.position}: {self.type} {self.seconds} s"


@audited("route", key="event")
class Route(models.Model):
    """Event name → workflow, with the priority its notifications run at."""

    event = models.CharField(max_length=200)
    # Only triggers of this event version take the route; null: any version without a route
    # of its own.
    event_version = models.PositiveIntegerField(null=True, blank=True)
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="routes")
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    active = models.BooleanField(default=True)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event", "event_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "event_version"],
                name="route_event_version_unique",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        version = f" v{self.event_version}" if self.event_version else ""
        return f"{self.event}{version} → {self.workflow.key}"


@audited("schema", key="event")
class EventSchema(models.Model):
    """A JSON Schema (2020-12) that payloads of one version of an event must satisfy."""

    event = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    schema = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event", "version"]
        constraints = [
            models.UniqueConstraint(fields=["event", "version"], name="event_schema_unique")
        ]

    def __str__(self) -> str:
        return f"{self.event} v{self.version}"


# Credentials are never recorded, not even encrypted.
@audited("integration", key="id", exclude=("credentials_encrypted",))
class Integration(models.Model):
    """A provider account for a channel; credentials are encrypted at rest."""

    channel = models.CharField(max_length=16, choices=Channel.choices)
    provider = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    settings = models.JSONField(default=dict, blank=True)
    credentials_encrypted = models.TextField(blank=True, default="")
    primary = models.BooleanField(default=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel", "-primary", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel}/{self.provider})"

    @property
    def credentials(self) -> dict:
        from notifications.crypto import decrypt_json

        return decrypt_json(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        from notifications.crypto import encrypt_json

        self.credentials_encrypted = encrypt_json(value or {})
