"""Pipeline tasks: each takes ids, loads rows, calls one pipeline function.

Their names live in `notifications.pipeline.dispatch`, the one place that enqueues them;
nothing else imports this module (Celery's autodiscovery does).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django_tenants.utils import schema_context

from notifications.pipeline.dispatch import (
    FEEDBACK_TASK,
    PROCESS_ACCEPTED_TASK,
    PROCESS_TASK,
    SEND_TASK,
    SWEEP_TASK,
    WEBHOOK_SEND_TASK,
    deliveries_held,
)
from notifications.pipeline.fanout import (
    notification_fan_out,
    notification_process,
    notifications_claim_accepted,
    notifications_processed,
)
from notifications.pipeline.feedback import tenant_feedback, webhook_messages_send
from notifications.pipeline.sending import deliveries_send
from notifications.pipeline.sweeper import tenant_sweep
from platform_core.celery import app
from tenants.selectors import tenant_list_active

logger = logging.getLogger(__name__)


@app.task(name=PROCESS_TASK, time_limit=900, soft_time_limit=840)
def notification_process_task(notification_id: str, cursor: dict | None = None) -> dict:
    """Fan an accepted notification out into deliveries."""
    return notification_process(notification_id=notification_id, cursor=cursor)


@app.task(name=PROCESS_ACCEPTED_TASK, time_limit=900, soft_time_limit=840)
def notifications_process_task(notification_ids: list[str]) -> dict:
    """Fan accepted notifications out (the triggers a web process accepted within a few
    milliseconds: claimed in one statement, fanned out one after the other, marked processed
    in one statement), then send what they queued in this task: for
    transactional traffic, one recipient each, a second task per event would cost more than
    the send. Up to one send batch per channel is held for this (`deliveries_held`); more
    goes to send tasks as it is queued, as a large fan-out's deliveries do. A notification
    that fails is logged and left to the sweeper, which re-dispatches it; the others go on."""
    counts = {"processed": 0, "failed": 0, "sent_here": 0}
    with deliveries_held() as held:
        claimed = notifications_claim_accepted(notification_ids=notification_ids)
        counts["processed"] += len(notification_ids) - len(claimed)  # done before
        done = []
        for notification in claimed:
            try:
                outcome = notification_fan_out(notification)
            except SoftTimeLimitExceeded:
                raise
            except Exception:
                logger.exception(
                    "notification not processed; the sweeper re-dispatches it",
                    extra={"notification_id": str(notification.pk)},
                )
                counts["failed"] += 1
            else:
                counts["processed"] += 1
                if outcome.get("complete"):
                    done.append((notification, outcome["deliveries"]))
        notifications_processed(done=done)
    read = {notification.pk: notification for notification in claimed}
    by_channel: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for row in held:
        by_channel[row[1]].append(row)
    for channel, rows in by_channel.items():
        try:
            deliveries_send(
                delivery_ids=[row[0] for row in rows], channel=channel, notifications=read
            )
        except SoftTimeLimitExceeded:
            raise
        except Exception:
            logger.exception(
                "deliveries not sent; the sweeper re-dispatches them",
                extra={"channel": channel, "deliveries": len(rows)},
            )
        else:
            counts["sent_here"] += len(rows)
    return counts


@app.task(name=SEND_TASK)
def deliveries_send_task(delivery_ids: list[int], channel: str) -> dict:
    """Send one batch of deliveries of one channel."""
    return deliveries_send(delivery_ids=delivery_ids, channel=channel)


@app.task(name=SWEEP_TASK, tenant_required=False, time_limit=120, soft_time_limit=100)
def deliveries_sweep_task() -> dict:
    """Sweep every active tenant's schema for due, lost or stuck work (runs in public)."""
    return _each_tenant(tenant_sweep, "sweep")


@app.task(name=FEEDBACK_TASK, tenant_required=False, time_limit=120, soft_time_limit=100)
def feedback_feed_task() -> dict:
    """Per active tenant: delivery history → webhook messages; due messages → senders."""
    return _each_tenant(tenant_feedback, "feedback")


@app.task(name=WEBHOOK_SEND_TASK, time_limit=300, soft_time_limit=240)
def webhook_messages_send_task(message_ids: list[int]) -> dict:
    """Post one batch of claimed webhook messages to their endpoints."""
    return webhook_messages_send(message_ids=message_ids)


def _each_tenant(run, what: str) -> dict:
    """Run `run()` in every active, migrated tenant schema; summed counts (runs in public)."""
    totals: dict[str, int] = {"tenants": 0}
    for tenant in tenant_list_active().only("schema_name"):
        if not _schema_migrated(tenant.schema_name):
            # Being created: its row is committed before its schema is made and migrated.
            logger.info(
                f"{what} skipped: schema not migrated yet", extra={"tenant": tenant.schema_name}
            )
            continue
        try:
            with schema_context(tenant.schema_name):
                counts = run()
        except Exception:  # noqa: BLE001 - one tenant's failure must not stop the others
            logger.exception(f"{what} failed", extra={"tenant": tenant.schema_name})
            continue
        totals["tenants"] += 1
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    connection.set_schema_to_public()
    return totals


# The tables a sweep reads; the first migration creates them together, in one transaction.
_SWEPT_TABLES = ("notifications_notification", "notifications_delivery")


def _schema_migrated(schema_name: str) -> bool:
    """Whether the tenant's schema holds the tables a sweep reads (one catalog query)."""
    names = [f'"{schema_name}".{table}' for table in _SWEPT_TABLES]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bool_and(to_regclass(name) IS NOT NULL) FROM unnest(%s::text[]) AS name",
            [names],
        )
        return bool(cursor.fetchone()[0])
