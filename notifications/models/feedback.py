"""What happens after a send, told outwards: tenants' webhook endpoints, the messages each
is owed (one per delivery event and endpoint), every attempt to post one, and the cursor of
the history feed they are derived from."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from notifications.models.audit import audited

# The delivery events an endpoint may subscribe to: `delivery.<status>`.
WEBHOOK_EVENT_STATUSES = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "failed",
    "dead",
    "skipped",
)
WEBHOOK_EVENTS = tuple(f"delivery.{status}" for status in WEBHOOK_EVENT_STATUSES)


# The secret is never recorded; nor is `failing_since`, which moves with every failed attempt.
@audited("webhook_endpoint", key="id", exclude=("secret_encrypted", "failing_since"))
class WebhookEndpoint(models.Model):
    """A tenant's URL that receives signed delivery events (Standard Webhooks)."""

    url = models.URLField(max_length=2000)
    events = ArrayField(models.CharField(max_length=32), default=list)
    active = models.BooleanField(default=True)
    # `whsec_<base64>`, Fernet-encrypted like integration credentials; shown once on create.
    secret_encrypted = models.TextField()
    # Start of the current run of failed attempts (NULL after any success).
    failing_since = models.DateTimeField(null=True, blank=True)
    # Why the platform turned `active` off (continuous failure); blank when it did not.
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"webhook endpoint {self.pk}"

    @property
    def secret(self) -> str:
        from notifications.crypto import decrypt_json

        return decrypt_json(self.secret_encrypted).get("secret", "")

    @secret.setter
    def secret(self, value: str) -> None:
        from notifications.crypto import encrypt_json

        self.secret_encrypted = encrypt_json({"secret": value})


class WebhookMessage(models.Model):
    """One delivery event owed to one endpoint; posted until a 2xx, retried from the database.

    `next_attempt_at` is when it is due (NULL once delivered or given up); a sender claims it
    by pushing `next_attempt_at` past a lease, so a worker that dies mid-post only delays it.
    """

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    # The history row (DeliveryEvent) it tells of; with the endpoint, unique: exactly once.
    event_id = models.BigIntegerField()
    event_type = models.CharField(max_length=32)
    payload = models.JSONField()
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_message_once_per_endpoint"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_message_due_idx",
                condition=Q(next_attempt_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.webhook_id} → {self.endpoint_id}"

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header: stable across retries, so receivers can deduplicate."""
        return f"msg_{self.event_id}"


class WebhookAttempt(models.Model):
    """One POST of a webhook message: its response code or error, and how long it took."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="tries")
    attempt = models.PositiveSmallIntegerField()
    response_code = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "-id"], name="webhook_attempt_endpoint_idx")]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of {self.message_id}"


class FeedCursor(models.Model):
    """How far a reader of the delivery history has got: (transaction id, event id).

    One row per reader (`name`); see `notifications.pipeline.feedback.feed`.
    """

    name = models.CharField(max_length=50, unique=True)
    xact = models.BigIntegerField(default=0)
    event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} at ({self.xact}, {self.event_id})"
