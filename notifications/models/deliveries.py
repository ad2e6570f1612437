"""Accepted events, the deliveries they fan out to, their history, and in-app messages."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import BigIntegerField, Func, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from notifications.models.config import Channel, Integration, Priority, Route, Workflow
from notifications.models.subscribers import Subscriber

# pg_current_xact_id() (xid8, PostgreSQL 13+) as a bigint.
CURRENT_XACT = Cast(
    Cast(Func(function="pg_current_xact_id", template="%(function)s()"), TextField()),
    BigIntegerField(),
)


class NotificationStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its time (delay, digest window)
    QUEUED = "queued", "Queued"  # handed to the broker
    SENDING = "sending", "Sending"  # claimed by a worker, provider call under way
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    FAILED = "failed", "Failed"  # last attempt failed; retry scheduled
    BOUNCED = "bounced", "Bounced"
    DEAD = "dead", "Dead"  # dead-lettered: permanent error or attempts exhausted
    SKIPPED = "skipped", "Skipped"
    DIGESTED = "digested", "Digested"


class Notification(models.Model):
    """One accepted trigger. Written before the 202, so nothing accepted is ever lost."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.CharField(max_length=200)
    route = models.ForeignKey(Route, on_delete=models.SET_NULL, null=True, blank=True)
    workflow = models.ForeignKey(Workflow, on_delete=models.SET_NULL, null=True, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices)
    status = models.CharField(
        max_length=12, choices=NotificationStatus.choices, default=NotificationStatus.ACCEPTED
    )
    # The idempotency key: durable, enforced by this unique constraint.
    transaction_id = models.CharField(max_length=255, unique=True)
    request_hash = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    actor = models.JSONField(null=True, blank=True)
    # The `to` list as resolved at trigger time: {"subscribers": [...], "topics": [...]}.
    recipients = models.JSONField(default=dict, blank=True)
    # The workflow versions fixed at trigger time: {"live": n, "rollout": m, "percent": p}.
    workflow_plan = models.JSONField(null=True, blank=True)
    event_version = models.PositiveIntegerField(null=True, blank=True)
    broadcast = models.BooleanField(default=False)
    request_id = models.CharField(max_length=128, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["event", "-created_at"], name="notification_event_idx"),
            models.Index(fields=["-created_at"], name="notification_created_idx"),
            models.Index(
                fields=["dispatched_at"],
                name="notification_unprocessed_idx",
                condition=Q(status__in=["accepted", "processing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} ({self.id})"


class Delivery(models.Model):
    """One message to one subscriber on one channel; its status moves by conditional updates."""

    # Indexed by the unique constraint below (notification first): no index of its own.
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # SET NULL on erasure (GDPR): statistics stay, the person does not.
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    # NULL once the subscriber is erased: the statistics stay, anonymised.
    subscriber_ref = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    step_index = models.PositiveSmallIntegerField(default=0)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    template_key = models.CharField(max_length=100, blank=True, default="")
    variant = models.CharField(max_length=100, blank=True, default="")
    provider = models.CharField(max_length=64, blank=True, default="")
    # Not indexed: every index slows the hot status updates; deleting an integration is rare.
    integration = models.ForeignKey(
        Integration, on_delete=models.SET_NULL, null=True, blank=True, db_index=False
    )
    priority = models.CharField(max_length=10, choices=Priority.choices)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_class = models.CharField(max_length=100, blank=True, default="")
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    digest_key = models.CharField(max_length=255, blank=True, default="")
    # The workflow version whose step this delivery runs (null: before versions existed).
    workflow_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # Re-running a fan-out (after a crash or a lost message) can never duplicate.
            models.UniqueConstraint(
                fields=["notification", "step_index", "subscriber"],
                name="delivery_once_per_step",
            )
        ]
        # Each status change writes a new row version into every unconditional index, so they
        # are few; the partial ones only hold the rows the sweeper and the dead-letter list read.
        indexes = [
            models.Index(
                fields=["id"],
                name="delivery_dead_idx",
                condition=Q(status__in=["dead", "failed"]),
            ),
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due_idx",
                condition=Q(status__in=["pending", "failed"]),
            ),
            models.Index(
                fields=["dispatched_at"],
                name="delivery_queued_idx",
                condition=Q(status="queued"),
            ),
            models.Index(
                fields=["lease_until"],
                name="delivery_sending_idx",
                condition=Q(status="sending"),
            ),
            # Analytics (counts by day or hour, channel, event, status): an index-only range
            # scan, the event joined from the notification.
            models.Index(
                fields=["created_at"],
                include=["channel", "status", "notification_id"],
                name="delivery_created_idx",
            ),
            # A/B results: counts per variant and status of one template key.
            models.Index(
                fields=["template_key", "variant", "status"], name="delivery_template_idx"
            ),
            # Provider webhooks find their delivery by the provider's message id.
            models.Index(
                fields=["provider_message_id"],
                name="delivery_provider_message_idx",
                condition=~Q(provider_message_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.id} by {self.get_channel_display()} ({self.get_status_display()})"


class DeliveryEvent(models.Model):
    """Append-only history: one row per state change of a delivery."""

    # Indexed by (delivery, id) below.
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=10, blank=True, default="")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    attempt = models.PositiveSmallIntegerField(default=0)
    provider = models.CharField(max_length=64, blank=True, default="")
    error_class = models.CharField(max_length=100, blank=True, default="")
    provider_response_code = models.IntegerField(null=True, blank=True)
    detail = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # The writing transaction's id (pg_current_xact_id), set by the database: readers of the
    # history (notifications.pipeline.feedback.feed) page by (xact, id) and read only
    # transactions older than every one still running, so none is skipped.
    xact = models.BigIntegerField(db_default=CURRENT_XACT, editable=False)
    # What a provider's event (or a tracked click or open) is known by: the provider's event
    # id, else its kind and timestamp. The same event twice is recorded once.
    provider_event_id = models.CharField(max_length=255, blank=True, default="", db_default="")

    class Meta:
        ordering = ["id"]
        verbose_name = "delivery history event"
        indexes = [
            models.Index(fields=["delivery", "id"], name="delivery_event_idx"),
            models.Index(fields=["xact", "id"], name="delivery_event_feed_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "provider_event_id"],
                name="delivery_event_once",
                condition=~Q(provider_event_id=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.from_status or 'new'} → {self.status}"


class InboxMessage(models.Model):
    """An in-app message; the in-app channel's delivery writes it."""

    # Indexed by (subscriber, -created_at, -id) below.
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="inbox_messages", db_index=False
    )
    delivery = models.OneToOneField(
        Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbox_message"
    )
    notification = models.ForeignKey(
        Notification,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    title = models.TextField(blank=True, default="")
    body = models.TextField()
    cta_url = models.TextField(blank=True, default="")
    seen_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subscriber", "-created_at", "-id"], name="inbox_subscriber_idx"),
            models.Index(
                fields=["subscriber"], name="inbox_unread_idx", condition=Q(read_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber_id}: {self.title or self.body[:30]}"
