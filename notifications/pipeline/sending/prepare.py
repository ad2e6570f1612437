"""The pre-send work both send paths share, done once per batch where it can be.

For a batch of one channel: the deliveries whose send condition is unmet, and those to a
suppressed address, are found with one query each; notifications are loaded once; templates
are loaded and non-personal messages rendered once (the batch `Renderer`). Per delivery: why
it should be skipped, if at all, and its message — with the other deliveries of its digest
window merged in, and its links tracked when its workflow says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection

from connectors.base import PermanentError, RenderedMessage
from notifications.models import (
    Channel,
    InboxMessage,
    Notification,
    Priority,
    Workflow,
    WorkflowVersion,
)
from notifications.pipeline.feedback.provider import suppressed_deliveries, tenant_base_url
from notifications.pipeline.feedback.unsubscribe import unsubscribe_headers
from notifications.pipeline.governance import ThrottleCheck, ThrottleGate
from notifications.pipeline.state import DELIVERY_TABLE, NOTIFICATION_TABLE, deliveries_digest_into
from notifications.rendering import Renderer
from notifications.rendering.tracking import LinkTracker


class ConfigurationError(PermanentError):
    """The tenant's configuration cannot send this delivery (no integration, no template)."""


SKIP_ERASED = "subscriber was erased"
# Channels whose links are tracked (chat goes to machines and team tools: left as written).
TRACKED_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.IN_APP})
SKIP_CONDITION = "condition not met: in-app message already read"

_VERSION_TABLE = WorkflowVersion._meta.db_table
_INBOX_TABLE = InboxMessage._meta.db_table


def unmet_conditions(delivery_ids: Sequence[int]) -> set[int]:
    """The deliveries of a batch whose step waits on an earlier in-app message that was read.

    The condition is the one of the workflow version the delivery runs (version 1 for
    deliveries written before versions existed).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT d.id
            FROM {DELIVERY_TABLE} d
            JOIN {NOTIFICATION_TABLE} n ON n.id = d.notification_id
            JOIN {_VERSION_TABLE} wv
              ON wv.workflow_id = n.workflow_id AND wv.number = COALESCE(d.workflow_version, 1)
            CROSS JOIN LATERAL (
              SELECT (wv.snapshot -> 'steps' -> d.step_index -> 'condition' ->> 'unread')::int
                AS unread_step
            ) c
            JOIN {DELIVERY_TABLE} earlier
              ON earlier.notification_id = d.notification_id
             AND earlier.step_index = c.unread_step
             AND earlier.subscriber_id = d.subscriber_id
            JOIN {_INBOX_TABLE} m ON m.delivery_id = earlier.id
            WHERE d.id = ANY(%s::bigint[]) AND c.unread_step IS NOT NULL
              AND m.read_at IS NOT NULL
            """,
            [list(delivery_ids)],
        )
        return {row[0] for row in cursor.fetchall()}


@dataclass(frozen=True)
class WorkflowFlags:
    """What a send reads of its workflow besides its version: links and unsubscribe."""

    key: str
    critical: bool
    track_clicks: bool
    track_opens: bool


@dataclass
class BatchPreparer:
    """Prepares the deliveries of one send batch (one channel)."""

    delivery_ids: Sequence[int]
    channel: str
    renderer: Renderer = field(default_factory=Renderer)
    notifications: dict = field(default_factory=dict)
    # Deliveries merged into a digest sent earlier in this batch.
    absorbed: set[int] = field(default_factory=set)
    _unmet: set[int] | None = None
    _suppressed: dict[int, str] | None = None
    _throttles: ThrottleGate | None = None
    # Workflow id → what tracking and unsubscribe headers read of it (None: deleted since).
    _workflows: dict[int, WorkflowFlags | None] = field(default_factory=dict)
    # The tenant's base URL of tracked and unsubscribe links.
    _base_url: str | None = None

    def __post_init__(self) -> None:
        # Notifications handed in with their workflow loaded (a task that just fanned them
        # out) need no query for its flags either.
        for notification in self.notifications.values():
            if Notification.workflow.is_cached(notification) and notification.workflow:
                workflow = notification.workflow
                self._workflows[workflow.pk] = WorkflowFlags(
                    workflow.key, workflow.critical, workflow.track_clicks, workflow.track_opens
                )

    def load_notifications(self, notification_ids: Iterable) -> None:
        """Load the batch's notifications in one query."""
        wanted = set(notification_ids) - set(self.notifications)
        if wanted:
            self.notifications.update(Notification.objects.in_bulk(list(wanted)))

    def notification(self, notification_id) -> Notification:
        if notification_id not in self.notifications:
            self.load_notifications([notification_id])
        return self.notifications[notification_id]

    def skip_reason(self, *, delivery_id: int, subscriber_pk: int | None) -> str:
        """Why this delivery must not be sent ('' to send it)."""
        if subscriber_pk is None:
            return SKIP_ERASED
        if self._unmet is None:
            self._unmet = unmet_conditions(self.delivery_ids)
        if delivery_id in self._unmet:
            return SKIP_CONDITION
        if self._suppressed is None:
            self._suppressed = suppressed_deliveries(self.delivery_ids, self.channel)
        return self._suppressed.get(delivery_id, "")

    def throttled(
        self, deliveries: Sequence[tuple[int, int | None, object, str]]
    ) -> dict[int, str]:
        """Count deliveries against the channel's throttles: id → skip reason of those over.

        `deliveries` are (id, subscriber pk, notification id, priority), about to be sent.
        """
        if self._throttles is None:
            self._throttles = ThrottleGate(channel=self.channel)
        if not deliveries or not self._throttles.throttles:
            return {}
        checks = [
            ThrottleCheck(
                delivery_id=pk,
                subscriber_pk=subscriber_pk,
                workflow_id=self.notification(notification_id).workflow_id,
                priority=priority,
            )
            for pk, subscriber_pk, notification_id, priority in deliveries
        ]
        return self._throttles.over(checks)

    def message(
        self,
        *,
        delivery_id: int,
        notification_id,
        subscriber_pk: int,
        subscriber: dict,
        template_key: str,
        digest_key: str,
    ) -> tuple[RenderedMessage, str]:
        """Render one delivery (merging its digest window); the message and its variant.

        `subscriber` is the template context of the recipient (`subscriber_context`).

        Raises RenderError when the template cannot render.
        """
        notification = self.notification(notification_id)
        payload, merged = self._payload(
            delivery_id=delivery_id,
            subscriber_pk=subscriber_pk,
            digest_key=digest_key,
            notification=notification,
        )
        self.absorbed |= merged
        message, variant = self.renderer.render(
            template_key=template_key,
            channel=self.channel,
            notification=notification,
            subscriber=subscriber,
            payload=payload,
            shareable=not merged,
        )
        return self._tracked(message, delivery_id, notification.workflow_id), variant

    def _workflow(self, workflow_id: int | None) -> WorkflowFlags | None:
        """The flags of a workflow of the batch; the batch's workflows are read in one query."""
        if workflow_id is None:
            return None
        if workflow_id not in self._workflows:
            ids = {n.workflow_id for n in self.notifications.values()} | {workflow_id}
            ids -= {None, *self._workflows}
            rows = Workflow.objects.filter(pk__in=ids).values_list(
                "pk", "key", "critical", "track_clicks", "track_opens"
            )
            self._workflows.update({pk: WorkflowFlags(*flags) for pk, *flags in rows})
            self._workflows.update({pk: None for pk in ids if pk not in self._workflows})
        return self._workflows[workflow_id]

    def base_url(self) -> str:
        if self._base_url is None:
            self._base_url = tenant_base_url()
        return self._base_url

    def _tracked(self, message: RenderedMessage, delivery_id: int, workflow_id) -> RenderedMessage:
        """The message with its links (and, for email, opens) tracked per its workflow."""
        if self.channel not in TRACKED_CHANNELS:
            return message
        # Without a workflow (deleted since): the defaults.
        flags = self._workflow(workflow_id)
        clicks, opens = (flags.track_clicks, flags.track_opens) if flags else (True, False)
        email = self.channel == Channel.EMAIL
        if not clicks and not (opens and email):
            return message
        tracker = LinkTracker(
            base_url=self.base_url(),
            schema=connection.schema_name,
            delivery_id=delivery_id,
            clicks=clicks,
            opens=opens,
        )
        return tracker.apply(message, email=email)

    def unsubscribe_headers(
        self, *, notification_id, subscriber_ref: str | None, priority: str
    ) -> dict[str, str]:
        """List-Unsubscribe headers for a non-critical email of a workflow ({} otherwise)."""
        notification = self.notification(notification_id)
        workflow_id = notification.workflow_id
        if not subscriber_ref or workflow_id is None or priority == Priority.CRITICAL:
            return {}
        workflow = self._workflow(workflow_id)
        if workflow is None or workflow.critical:
            return {}
        return unsubscribe_headers(
            subscriber_id=subscriber_ref,
            workflow_key=workflow.key,
            channel=self.channel,
            base_url=self.base_url(),
        )

    def _payload(
        self, *, delivery_id: int, subscriber_pk: int, digest_key: str, notification
    ) -> tuple[dict, set[int]]:
        """The payload to render, with `digest.count` and `digest.events` for a digest."""
        if not digest_key:
            return notification.payload, set()
        merged = deliveries_digest_into(
            delivery_id=delivery_id, subscriber_pk=subscriber_pk, digest_key=digest_key
        )
        if not merged:
            events = [notification.payload]
        else:
            self.load_notifications(n for _, n in merged)
            events = [notification.payload] + [
                self.notifications[n].payload for _, n in merged if n in self.notifications
            ]
        digest = {"count": len(events), "events": events}
        return {**notification.payload, "digest": digest}, {pk for pk, _ in merged}
