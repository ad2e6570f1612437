"""Send governance rows: throttles per subscriber (provider rate limits live on integrations)."""

from __future__ import annotations

from django.db import models

from notifications.models.audit import audited
from notifications.models.config import Channel


@audited("throttle", key="key")
class Throttle(models.Model):
    """At most `limit` deliveries per subscriber in any `window_seconds`.

    Across every channel unless `channel` is set, across every workflow unless `workflow_key`
    is; critical deliveries pass unless `applies_to_critical`.
    """

    key = models.CharField(max_length=100, unique=True)
    limit = models.PositiveIntegerField()
    window_seconds = models.PositiveIntegerField()
    # Blank: every channel.
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True, default="")
    # Blank: every workflow. A key, not a foreign key: a workflow deleted and created again
    # under the same key keeps its throttle; one deleted for good leaves the throttle inert.
    workflow_key = models.CharField(max_length=100, blank=True, default="")
    applies_to_critical = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} ({self.limit} per {self.window_seconds} s)"

    @property
    def label(self) -> str:
        """How a skipped delivery names this throttle."""
        return f"'{self.key}' ({self.limit} per {self.window_seconds} s)"
