"""The base of every Clarion task, and the one way to enqueue one."""

from __future__ import annotations

import logging
from typing import Any

import kombu.exceptions
import redis.exceptions
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

    def send() -> None:
        try:
            app.send_task(
                task_name,
                args=list(args),
                kwargs=kwargs or {},
                headers=headers,
                ignore_result=True,
                **options,
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

    transaction.on_commit(send)
