"""The base of every Clarion task, and the one way to enqueue one."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import defaultdict
from typing import Any

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name
from tenant_schemas_celery.task import TenantTask

from platform_core.celery import app

logger = logging.getLogger(__name__)

# What a publish raises when the broker is down or unreachable.
PUBLISH_ERRORS = (
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


class TenantMissing(RuntimeError):
    """A tenant task arrived without its tenant (tenant-schemas-celery would use `public`)."""


class ClarionTask(TenantTask):
    abstract = True
    # Platform-wide tasks (sweepers looping over tenants) set this to False.
    tenant_required = True

    def __call__(self, *args, **kwargs):
        if self.tenant_required and connection.schema_name == get_public_schema_name():
            raise TenantMissing(
                f"{self.name} arrived without a tenant; refusing to run in the public schema"
            )
        return super().__call__(*args, **kwargs)


def enqueue(
    task_name: str,
    *,
    args: tuple | list = (),
    kwargs: dict[str, Any] | None = None,
    queue: str | None = None,
    schema_name: str | None = None,
    **options: Any,
) -> None:
    """Send the task named `task_name` once the current transaction commits (at once outside
    one). Sent by name, so the sender need not import (or register) the task's module; its
    result is never stored or waited for.

    The tenant is the schema active now (or `schema_name`), captured before the commit, so
    a schema switch between now and the commit cannot redirect the task.

    A broker that is down does not fail the caller: what was committed is the source of
    truth and the sweeper re-dispatches it (see `notifications.pipeline.sweeper`). The
    failed publish is logged, and bounded in time by the publish settings
    (`CELERY_BROKER_CONNECTION_TIMEOUT`, `CELERY_TASK_PUBLISH_RETRY_POLICY`).
    """
    headers = dict(options.pop("headers", None) or {})
    headers["_schema_name"] = schema_name or connection.schema_name
    if queue:
        options["queue"] = queue
    transaction.on_commit(lambda: _publish(task_name, list(args), kwargs or {}, headers, options))


def _publish(task_name: str, args: list, kwargs: dict, headers: dict, options: dict) -> None:
    try:
        app.send_task(
            task_name, args=args, kwargs=kwargs, headers=headers, ignore_result=True, **options
        )
    except PUBLISH_ERRORS as exc:
        logger.warning(
            "task not published: the broker is unavailable; the sweeper re-dispatches it",
            extra={
                "task": task_name,
                "tenant": headers["_schema_name"],
                "queue": options.get("queue"),
                "error_class": type(exc).__name__,
                "error": str(exc)[:200],
            },
        )


# At most this many items per gathered task, so a burst is spread over the queue's workers.
GATHER_MAX_ITEMS = 50


class _Gatherer:
    """Items for tasks that take a list, gathered for `CLARION_DISPATCH_GATHER_MS` and sent
    as one task per (task, queue, tenant) by a thread of this process.

    A task publish costs the sender far more CPU than the row it names (Celery builds and
    encodes a message, kombu takes a Redis client): under load, one publish now carries
    every item of the last few milliseconds. What is gathered is already committed, so an
    item lost with the process is re-sent by the sweeper like any lost message.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._items: dict[tuple[str, str, str], list] = defaultdict(list)
        self._pid: int | None = None

    def add(self, task_name: str, item, *, queue: str, schema_name: str) -> None:
        with self._condition:
            if self._pid != os.getpid():  # first use in this process (or since a fork)
                self._pid = os.getpid()
                self._items.clear()
                threading.Thread(target=self._run, name="clarion-gather", daemon=True).start()
                atexit.register(self.flush)
            self._items[(task_name, queue, schema_name)].append(item)
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._items)
            time.sleep(settings.CLARION_DISPATCH_GATHER_MS / 1000)
            self.flush()

    def flush(self) -> None:
        """Send what is gathered now (also at exit)."""
        with self._condition:
            batches, self._items = self._items, defaultdict(list)
        for (task_name, queue, schema_name), items in batches.items():
            headers = {"_schema_name": schema_name}
            for start in range(0, len(items), GATHER_MAX_ITEMS):
                batch = items[start : start + GATHER_MAX_ITEMS]
                _publish(task_name, [batch], {}, headers, {"queue": queue})


_gatherer = _Gatherer()


def enqueue_gathered(task_name: str, item, *, queue: str, schema_name: str | None = None) -> None:
    """Once the current transaction commits, add `item` to the next `task_name([items])` of
    this queue and tenant (see `_Gatherer`); with CLARION_DISPATCH_GATHER_MS at 0, a task of
    its own is sent at once, as `enqueue` does."""
    schema_name = schema_name or connection.schema_name
    if settings.CLARION_DISPATCH_GATHER_MS <= 0:
        enqueue(task_name, args=([item],), queue=queue, schema_name=schema_name)
        return
    transaction.on_commit(
        lambda: _gatherer.add(task_name, item, queue=queue, schema_name=schema_name)
    )
