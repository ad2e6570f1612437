"""Fan-out: an accepted notification becomes deliveries, streamed in chunks and bulk-written.

Recipients are read in keyset-paginated chunks (a topic of a million members never sits in
memory) and each chunk's deliveries are written by one INSERT ... SELECT per send step, with
preferences and missing addresses decided in SQL. `ON CONFLICT DO NOTHING` on
(notification, step, subscriber) makes a re-run after a crash or a lost message harmless, and
also de-duplicates a subscriber reached through several topics.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    Priority,
    StepType,
    Subscriber,
    TopicSubscription,
)
from notifications.pipeline.dispatch import deliveries_dispatch, notification_dispatch
from notifications.pipeline.state import (
    deliveries_create,
    notification_claim,
    notification_mark_failed,
    notifications_claim,
    notifications_mark_processed,
)
from notifications.pipeline.versions import version_snapshots, workflow_get, workflows_get

logger = logging.getLogger(__name__)

# How many chunks one task processes before handing the rest to a continuation task, so a
# huge fan-out never holds a worker (and its queue) for long.
CHUNKS_PER_TASK = 25
# Channels whose address is known from the subscriber row; others are resolved at send time.
ADDRESS_COLUMNS = {Channel.EMAIL: "email", Channel.SMS: "phone"}


@dataclass(frozen=True)
class SendStep:
    index: int
    channel: str
    template_key: str
    offset_seconds: int  # delays before this step
    digest_window: int | None  # seconds, when a digest step precedes it
    digest_key: str


@dataclass(frozen=True)
class VersionPlan:
    """The workflow versions a notification runs: `rollout` for the subscribers whose bucket
    (0..9999) is below `threshold`, `live` for the others."""

    live: int
    rollout: int | None = None
    threshold: int = 0  # hundredths of a percent

    @classmethod
    def of(cls, plan: dict | None, *, workflow) -> VersionPlan:
        """The plan stored at trigger time; the workflow's live version for older rows."""
        if not plan:
            return cls(live=workflow.version)
        if plan.get("rollout") is None:
            return cls(live=plan["live"])
        return cls(
            live=plan["live"],
            rollout=plan["rollout"],
            threshold=round(float(plan["percent"]) * 100),
        )


def workflow_send_steps(
    *, workflow_key: str, snapshot: dict, critical: bool = False
) -> list[SendStep]:
    """The send steps of a workflow version with the delay and digest window before each.

    Critical sends are never digested: their digest steps are ignored.
    """
    steps = []
    offset = 0
    digest_window = None
    for position, step in enumerate(snapshot["steps"]):
        if step["type"] == StepType.DELAY:
            offset += step["seconds"] or 0
        elif step["type"] == StepType.DIGEST:
            if not (critical or snapshot["critical"]):
                digest_window = step["window_seconds"] or 0
        elif step["type"] == StepType.SEND:
            steps.append(
                SendStep(
                    index=position,
                    channel=step["channel"],
                    template_key=step["template"],
                    offset_seconds=offset,
                    digest_window=digest_window,
                    digest_key=f"{workflow_key}:{position}" if digest_window else "",
                )
            )
    return steps


# The bucket of a subscriber for a workflow's rollout, 0..9999: the first 32 bits of
# md5("<workflow key>:<subscriber id>") modulo 10000, the same as `rollout_bucket`.
_BUCKET_SQL = (
    "(('x' || substr(md5(%(rollout_salt)s || s.subscriber_id), 1, 8))::bit(32)::bigint %% 10000)"
)


def rollout_bucket(*, workflow_key: str, subscriber_id: str) -> int:
    """The subscriber's rollout bucket (0..9999), stable for a workflow: what the SQL computes."""
    digest = hashlib.md5(f"{workflow_key}:{subscriber_id}".encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:8], 16) % 10000


def _chunks(notification: Notification, cursor: dict) -> Iterator[tuple[list[int], dict]]:
    """Subscriber primary keys in chunks, with the cursor that resumes after each chunk."""
    size = settings.FANOUT_CHUNK_SIZE
    sources: list[tuple[str, int | None]] = []
    if notification.broadcast:
        sources.append(("all", None))
    else:
        if notification.recipients.get("subscribers"):
            sources.append(("subscribers", None))
        sources.extend(("topic", pk) for pk in notification.recipients.get("topics", []))
    for position, (kind, topic_pk) in enumerate(sources):
        if position < cursor.get("source", 0):
            continue
        last = cursor.get("after", 0) if position == cursor.get("source", 0) else 0
        if kind == "subscribers":
            ids = sorted(set(notification.recipients["subscribers"]))
            for start in range(0, len(ids), size):
                chunk = [pk for pk in ids[start : start + size] if pk > last]
                if chunk:
                    yield chunk, {"source": position, "after": chunk[-1]}
            continue
        while True:
            if kind == "all":
                query = Subscriber.objects.filter(pk__gt=last).order_by("pk")
                chunk = list(query.values_list("pk", flat=True)[:size])
            else:
                query = TopicSubscription.objects.filter(
                    topic_id=topic_pk, subscriber_id__gt=last
                ).order_by("subscriber_id")
                chunk = list(query.values_list("subscriber_id", flat=True)[:size])
            if not chunk:
                break
            last = chunk[-1]
            yield chunk, {"source": position, "after": last}
            if len(chunk) < size:
                break


def _insert_deliveries(
    *,
    notification: Notification,
    step: SendStep,
    subscriber_pks: list[int],
    critical: bool,
    max_attempts: int,
    workflow_key: str,
    workflow_version: int,
    in_rollout: bool | None = None,
    threshold: int = 0,
) -> list[tuple[int, str]]:
    """One INSERT ... SELECT for a chunk and a step; returns (id, status) of new rows.

    Preferences and missing addresses are decided here, in SQL, as each row's skip reason;
    with `in_rollout` set, only the subscribers inside (True) or outside (False) the rollout's
    share take this step.
    """
    channel = step.channel
    # Preferences: a workflow-level setting wins over the channel-level one; default opted in.
    opted_out = (
        "FALSE"
        if critical
        else (
            "CASE WHEN s.preferences #>> %(wf_path)s IS NOT NULL "
            "THEN s.preferences #>> %(wf_path)s = 'false' "
            "ELSE COALESCE(s.preferences #>> %(ch_path)s = 'false', FALSE) END"
        )
    )
    address = ADDRESS_COLUMNS.get(channel)
    missing = f"(s.{address} IS NULL OR s.{address} = '')" if address else "FALSE"
    rollout_filter = ""
    if in_rollout is not None:
        rollout_filter = f"AND ({_BUCKET_SQL} < %(rollout_threshold)s) = %(in_rollout)s"
    candidates = f"""
        SELECT s.id AS subscriber_id, s.subscriber_id AS subscriber_ref,
               CASE WHEN {opted_out} THEN %(opted_out_reason)s
                    WHEN {missing} THEN %(missing_reason)s END AS skip_reason
        FROM notifications_subscriber s
        WHERE s.id = ANY(%(ids)s::bigint[]) {rollout_filter}
    """
    delay = step.offset_seconds + (step.digest_window or 0)
    return deliveries_create(
        candidates_sql=candidates,
        params={
            "ids": subscriber_pks,
            "wf_path": ["workflows", workflow_key, channel],
            "ch_path": ["channels", channel],
            "opted_out_reason": f"subscriber opted out of {channel}",
            "missing_reason": f"subscriber has no {address or channel} address",
            "rollout_salt": f"{workflow_key}:",
            "rollout_threshold": threshold,
            "in_rollout": in_rollout,
        },
        notification_id=notification.pk,
        step_index=step.index,
        channel=channel,
        template_key=step.template_key,
        priority=notification.priority,
        max_attempts=max_attempts,
        digest_key=step.digest_key,
        due_at=timezone.now() + timedelta(seconds=delay) if delay > 0 else None,
        workflow_version=workflow_version,
    )


def notification_process(*, notification_id, cursor: dict | None = None) -> dict:
    """Claim a notification and fan it out, CHUNKS_PER_TASK chunks at a time.

    Returns counts. When more recipients remain, a continuation task is enqueued with the
    cursor; the notification is `processed` once every recipient has its deliveries.
    """
    notification = notification_claim(notification_id=notification_id, first_attempt=not cursor)
    if notification is None:
        return {"already_processed": True}
    notification.workflow = workflow_get(notification.workflow_id)
    counts = notification_fan_out(notification, cursor=cursor)
    if counts.pop("complete", False):
        notifications_processed(done=[(notification, counts["deliveries"])])
    return counts


def notifications_claim_accepted(*, notification_ids) -> list[Notification]:
    """Claim just-accepted notifications for their fan-out, with their workflows, in two
    statements for all of them; those already done are left out."""
    claimed = notifications_claim(notification_ids=notification_ids, first_attempt=True)
    workflows = workflows_get(notification.workflow_id for notification in claimed)
    for notification in claimed:
        notification.workflow = workflows.get(notification.workflow_id)
    return claimed


def notifications_processed(*, done: list[tuple[Notification, int]]) -> None:
    """Mark fanned-out notifications `processed` (each with how many deliveries it has), in
    one statement."""
    notifications_mark_processed(notification_ids=[notification.pk for notification, _ in done])
    for notification, deliveries in done:
        logger.info(
            "notification processed",
            extra={"notification_id": str(notification.pk), "deliveries": deliveries},
        )


def notification_fan_out(notification: Notification, *, cursor: dict | None = None) -> dict:
    """Write the deliveries of a claimed notification (`workflow` loaded), CHUNKS_PER_TASK
    chunks at a time, from `cursor` on.

    Returns counts, with `complete` when every recipient has its deliveries (for the caller
    to mark it processed) and `continued` with the cursor when a continuation task was
    enqueued for the rest. A workflow or version gone missing fails the notification.
    """
    cursor = cursor or {}
    workflow = notification.workflow
    if workflow is None:
        notification_mark_failed(
            notification_id=notification.pk,
            error="its workflow was deleted before it was processed",
        )
        return {"workflow_missing": True}
    plan = VersionPlan.of(notification.workflow_plan, workflow=workflow)
    numbers = [plan.live] + ([plan.rollout] if plan.rollout is not None else [])
    snapshots = version_snapshots(workflow=workflow, numbers=numbers)
    if plan.live not in snapshots:
        notification_mark_failed(
            notification_id=notification.pk,
            error=f"version {plan.live} of its workflow is missing",
        )
        return {"workflow_missing": True}
    # Subscribers outside the rollout's share (everyone without a rollout) run the live
    # version; those inside run the rollout's. Each side is one INSERT ... SELECT per step.
    sides: list[tuple[int, bool | None]] = [(plan.live, None)]
    if plan.rollout is not None and plan.rollout in snapshots:
        sides = [(plan.live, False), (plan.rollout, True)]
    # A critical notification (by its workflow, or by the trigger's priority) is never
    # digested; only a critical workflow overrides subscribers' preferences.
    versions = [
        (
            number,
            in_rollout,
            snapshots[number]["critical"],
            workflow_send_steps(
                workflow_key=workflow.key,
                snapshot=snapshots[number],
                critical=notification.priority == Priority.CRITICAL,
            ),
        )
        for number, in_rollout in sides
    ]
    max_attempts = notification.route_max_attempts or 5
    counts = {"deliveries": 0, "dispatched": 0, "chunks": 0}

    chunks = _chunks(notification, cursor)
    for chunk, next_cursor in chunks:
        with transaction.atomic():
            queued_rows = []
            for number, in_rollout, critical, steps in versions:
                for step in steps:
                    rows = _insert_deliveries(
                        notification=notification,
                        step=step,
                        subscriber_pks=chunk,
                        critical=critical,
                        max_attempts=max_attempts,
                        workflow_key=workflow.key,
                        workflow_version=number,
                        in_rollout=in_rollout,
                        threshold=plan.threshold,
                    )
                    queued_rows.extend(
                        (pk, step.channel, notification.priority)
                        for pk, status in rows
                        if status == DeliveryStatus.QUEUED
                    )
                    counts["deliveries"] += len(rows)
            deliveries_dispatch(rows=queued_rows)
            counts["dispatched"] += len(queued_rows)
            counts["chunks"] += 1
        if counts["chunks"] >= CHUNKS_PER_TASK:
            # Hand the rest over; the continuation runs on the same priority queue.
            with transaction.atomic():
                Notification.objects.filter(pk=notification.pk).update(dispatched_at=timezone.now())
                notification_dispatch(
                    notification_id=notification.pk,
                    priority=notification.priority,
                    cursor=next_cursor,
                )
            counts["continued"] = next_cursor
            return counts

    counts["complete"] = True
    return counts
