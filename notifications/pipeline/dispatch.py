"""The only code that enqueues pipeline tasks.

Tasks are named here and sent by name, after the current transaction commits, on the queue
of their priority: so nothing outside `notifications.tasks` imports the task module, and a
message never reaches a worker before the rows it names are visible. A message is a hint —
the rows are the truth: a lost one is re-sent by the sweeper.
"""

from __future__ import annotations

import contextvars
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction

from platform_core.taskbase import enqueue, enqueue_gathered

PROCESS_TASK = "notifications.notification_process"
PROCESS_ACCEPTED_TASK = "notifications.notifications_process"
SEND_TASK = "notifications.deliveries_send"
SWEEP_TASK = "notifications.deliveries_sweep"
FEEDBACK_TASK = "notifications.feedback_feed"
WEBHOOK_SEND_TASK = "notifications.webhook_messages_send"


def notification_dispatch(*, notification_id, priority: str, cursor: dict | None = None) -> None:
    """Enqueue the fan-out of a notification (or its continuation after `cursor`)."""
    enqueue(
        PROCESS_TASK,
        args=(str(notification_id),),
        kwargs={"cursor": cursor} if cursor else None,
        queue=priority,
    )


def accepted_dispatch(*, notification_id, priority: str) -> None:
    """Enqueue the fan-out of a just-accepted notification, gathered with the others this
    process accepts on its priority's queue within CLARION_DISPATCH_GATHER_MS."""
    enqueue_gathered(PROCESS_ACCEPTED_TASK, str(notification_id), queue=priority)


class _Held(list):
    """Rows held by `deliveries_dispatch`, and how many it has promised per channel."""

    def __init__(self) -> None:
        super().__init__()
        self.promised: dict[str, int] = defaultdict(int)


_held: contextvars.ContextVar[_Held | None] = contextvars.ContextVar("held", default=None)


@contextmanager
def deliveries_held() -> Iterator[list[tuple[int, str, str]]]:
    """Within it, `deliveries_dispatch` holds up to one send batch per channel instead of
    enqueuing it: those rows are added, once their transaction commits, to the list this
    yields, for the caller to send at the end. Rows beyond a channel's batch are enqueued
    as usual, so a large fan-out's sends start while it goes on. A row the caller never
    gets to is re-sent by the sweeper."""
    held = _Held()
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


def deliveries_dispatch(*, rows: Iterable[tuple[int, str, str]]) -> int:
    """Enqueue send batches for (delivery id, channel, priority) rows; returns how many tasks.

    Batched per channel and priority, SEND_BATCH_SIZES ids per task. Inside
    `deliveries_held()`, what fits the channel's held batch is held instead (no task).
    """
    held = _held.get()
    if held is not None:
        by_channel: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        for row in rows:
            by_channel[row[1]].append(row)
        rows = []
        for channel, channel_rows in by_channel.items():
            if held.promised[channel] + len(channel_rows) > _batch_size(channel):
                rows.extend(channel_rows)
                continue
            held.promised[channel] += len(channel_rows)
            transaction.on_commit(lambda kept=channel_rows: held.extend(kept))
    grouped: dict[tuple[str, str], list[int]] = defaultdict(list)
    for delivery_id, channel, priority in rows:
        grouped[(channel, priority)].append(delivery_id)
    tasks = 0
    for (channel, priority), ids in grouped.items():
        size = _batch_size(channel)
        for start in range(0, len(ids), size):
            enqueue(SEND_TASK, args=(ids[start : start + size], channel), queue=priority)
            tasks += 1
    return tasks


def _batch_size(channel: str) -> int:
    return settings.SEND_BATCH_SIZES.get(channel, 100)


def webhook_messages_dispatch(*, message_ids: list[int]) -> int:
    """Enqueue batches of claimed webhook messages on WEBHOOK_QUEUE; returns how many tasks."""
    size = settings.WEBHOOK_SEND_BATCH_SIZE
    tasks = 0
    for start in range(0, len(message_ids), size):
        enqueue(
            WEBHOOK_SEND_TASK,
            args=(message_ids[start : start + size],),
            queue=settings.WEBHOOK_QUEUE,
        )
        tasks += 1
    return tasks
