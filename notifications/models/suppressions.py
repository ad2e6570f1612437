"""Addresses that must not be sent to again: hard bounces and spam complaints."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from notifications.models.config import Channel
from notifications.models.deliveries import Delivery


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    COMPLAINT = "complaint", "Spam complaint"


class Suppression(models.Model):
    """One suppressed address of a channel (email lower-cased, phone numbers in E.164)."""

    channel = models.CharField(max_length=16, choices=Channel.choices)
    address = models.CharField(max_length=320)
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    # The delivery whose bounce or complaint added it (kept when the delivery goes).
    delivery = models.ForeignKey(
        Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "address"], name="suppression_channel_address_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} suppressed ({self.reason})"
