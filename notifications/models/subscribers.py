"""Subscribers (the tenant's users), topics and topic membership."""

from django.db import models


class Subscriber(models.Model):
    """A recipient, addressed by the tenant's own `subscriber_id`."""

    subscriber_id = models.CharField(max_length=255, unique=True)
    # NULL means "no address": the channel is skipped for this subscriber.
    email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    # Stored in E.164 (+14155550123), normalised with phonenumbers on the way in.
    phone = models.CharField(max_length=20, null=True, blank=True)  # noqa: DJ001
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    locale = models.CharField(max_length=35, blank=True, default="")
    timezone = models.CharField(max_length=64, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    # {"start": "22:00", "end": "07:00"} in `timezone` (UTC when none): non-critical email,
    # SMS and push due inside wait until the end (notifications.pipeline.quiet_hours).
    quiet_hours = models.JSONField(null=True, blank=True)
    # Channel credentials by provider: {"fcm": {"device_tokens": [...]}, "slack": {...}}.
    credentials = models.JSONField(default=dict, blank=True)
    # {"channels": {"email": false}, "workflows": {"<workflow key>": {"sms": false}}}
    preferences = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["-created_at"], name="subscriber_created_idx")]

    def __str__(self) -> str:
        return self.subscriber_id


class Topic(models.Model):
    """A named group of subscribers that an event can be sent to as one recipient."""

    key = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class TopicSubscription(models.Model):
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="subscriptions")
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="topic_subscriptions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Also the keyset index that fan-out streams a topic's members through.
        constraints = [
            models.UniqueConstraint(fields=["topic", "subscriber"], name="topic_subscriber_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} in {self.topic}"
