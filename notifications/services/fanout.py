"""Fan-out: an accepted notification becomes deliveries, streamed in chunks and bulk-written.

Recipients are read in keyset-paginated chunks (a topic of a million members never sits in
memory) and each chunk's deliveries are written by one INSERT ... SELECT per send step, with
preferences and missing addresses decided in SQL. `ON CONFLICT DO NOTHING` on
(notification, step, subscriber) makes a re-run after a crash or a lost message harmless, and
also de-duplicates a subscriber reached through several topics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationStatus,
    Priority,
    StepType,
    Subscriber,
    TopicSubscription,
)
from notifications.services.deliveries import (
    DELIVERY_TABLE,
    EVENT_COLUMNS,
    EVENT_TABLE,
    send_tasks_enqueue,
)
from platform_core.taskbase import enqueue

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


def workflow_send_steps(*, workflow, critical: bool = False) -> list[SendStep]:
    """The send steps of a workflow with the delay and digest window in front of each.

    A critical notification (its workflow or its priority) is never digested.
    """
    critical = critical or workflow.critical
    steps = []
    offset = 0
    digest_window = None
    for step in workflow.steps.all():
        if step.type == StepType.DELAY:
            offset += step.seconds or 0
        elif step.type == StepType.DIGEST:
            if not critical:
                digest_window = step.seconds or 0
        elif step.type == StepType.SEND:
            steps.append(
                SendStep(
                    index=step.position,
                    channel=step.channel,
                    template_key=step.template_key,
                    offset_seconds=offset,
                    digest_window=digest_window,
                    digest_key=f"{workflow.key}:{step.position}" if digest_window else "",
                )
            )
    return steps


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
) -> list[tuple[int, str]]:
    """One INSERT ... SELECT for a chunk and a step; returns (id, status) of new rows."""
    now = timezone.now()
    delayed = step.offset_seconds > 0 or bool(step.digest_window)
    due = now + timedelta(seconds=step.offset_seconds + (step.digest_window or 0))
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
    status_sql = (
        f"CASE WHEN {opted_out} THEN 'skipped' WHEN {missing} THEN 'skipped' "
        f"WHEN %(delayed)s THEN 'pending' ELSE 'queued' END"
    )
    error_sql = (
        f"CASE WHEN {opted_out} THEN 'subscriber opted out of {channel}' "
        f"WHEN {missing} THEN 'subscriber has no {address or channel} address' ELSE '' END"
    )
    # One statement writes the chunk's deliveries and their first history rows.
    sql = f"""
        WITH inserted AS (
            INSERT INTO {DELIVERY_TABLE}
                (notification_id, subscriber_id, subscriber_ref, step_index, channel,
                 template_key, variant, provider, priority, status, attempts, max_attempts,
                 next_attempt_at, dispatched_at, last_error, last_error_class,
                 provider_message_id, digest_key, created_at, updated_at)
            SELECT %(notification)s, s.id, s.subscriber_id, %(step)s, %(channel)s, %(template)s,
                   '', '', %(priority)s, {status_sql}, 0, %(max_attempts)s,
                   CASE WHEN %(delayed)s AND NOT ({opted_out} OR {missing})
                        THEN %(due)s::timestamptz END,
                   CASE WHEN %(delayed)s THEN NULL ELSE %(now)s::timestamptz END,
                   {error_sql}, '', '', %(digest_key)s, %(now)s, %(now)s
            FROM notifications_subscriber s
            WHERE s.id = ANY(%(ids)s::bigint[])
            ORDER BY s.id
            ON CONFLICT ON CONSTRAINT delivery_once_per_step DO NOTHING
            RETURNING id, status, last_error
        ), history AS (
            INSERT INTO {EVENT_TABLE} ({", ".join(EVENT_COLUMNS)})
            SELECT id, %(now)s, '', status, 0, '', '', NULL, last_error, NULL FROM inserted
        )
        SELECT id, status FROM inserted ORDER BY id
    """
    params = {
        "notification": notification.pk,
        "step": step.index,
        "channel": channel,
        "template": step.template_key,
        "priority": notification.priority,
        "max_attempts": max_attempts,
        "delayed": delayed,
        "due": due,
        "now": now,
        "digest_key": step.digest_key,
        "ids": subscriber_pks,
        "wf_path": ["workflows", workflow_key, channel],
        "ch_path": ["channels", channel],
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def notification_process(*, notification_id, cursor: dict | None = None) -> dict:
    """Fan a notification out into deliveries, CHUNKS_PER_TASK chunks at a time.

    Returns counts. When more recipients remain, a continuation task is enqueued with the
    cursor; the notification is `processed` once every recipient has its deliveries.
    """
    from notifications.tasks import notification_process_task

    cursor = cursor or {}
    now = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id,
        status__in=[NotificationStatus.ACCEPTED, NotificationStatus.PROCESSING],
    ).update(status=NotificationStatus.PROCESSING, dispatched_at=now)
    if not claimed:
        return {"skipped": True}
    notification = Notification.objects.select_related("workflow", "route").get(pk=notification_id)
    if not cursor:
        Notification.objects.filter(pk=notification.pk).update(attempts=notification.attempts + 1)
    workflow = notification.workflow
    if workflow is None:
        Notification.objects.filter(pk=notification.pk).update(
            status=NotificationStatus.FAILED,
            last_error="its workflow was deleted before it was processed",
            processed_at=now,
        )
        return {"failed": True}
    steps = workflow_send_steps(
        workflow=workflow, critical=notification.priority == Priority.CRITICAL
    )
    max_attempts = notification.route.max_attempts if notification.route else 5
    counts = {"deliveries": 0, "queued": 0, "chunks": 0}

    chunks = _chunks(notification, cursor)
    for chunk, next_cursor in chunks:
        with transaction.atomic():
            queued_rows = []
            for step in steps:
                rows = _insert_deliveries(
                    notification=notification,
                    step=step,
                    subscriber_pks=chunk,
                    critical=workflow.critical,
                    max_attempts=max_attempts,
                    workflow_key=workflow.key,
                )
                queued_rows.extend(
                    (pk, step.channel, notification.priority)
                    for pk, status in rows
                    if status == DeliveryStatus.QUEUED
                )
                counts["deliveries"] += len(rows)
            send_tasks_enqueue(rows=queued_rows)
            counts["queued"] += len(queued_rows)
            counts["chunks"] += 1
        if counts["chunks"] >= CHUNKS_PER_TASK:
            # Hand the rest over; the continuation runs on the same priority queue.
            with transaction.atomic():
                Notification.objects.filter(pk=notification.pk).update(dispatched_at=timezone.now())
                enqueue(
                    notification_process_task,
                    args=(str(notification.pk),),
                    kwargs={"cursor": next_cursor},
                    queue=notification.priority,
                )
            counts["continued"] = next_cursor
            return counts

    Notification.objects.filter(pk=notification.pk, status=NotificationStatus.PROCESSING).update(
        status=NotificationStatus.PROCESSED, processed_at=timezone.now()
    )
    logger.info(
        "notification processed",
        extra={"notification_id": str(notification.pk), "deliveries": counts["deliveries"]},
    )
    return counts
