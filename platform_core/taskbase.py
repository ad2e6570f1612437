"""The base of every Clarion task, and the one way to enqueue one."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name
from tenant_schemas_celery.task import TenantTask


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
    task,
    *,
    args: tuple | list = (),
    kwargs: dict[str, Any] | None = None,
    queue: str | None = None,
    schema_name: str | None = None,
    **options: Any,
) -> None:
    """Send `task` once the current transaction commits (at once outside one).

    The tenant is the schema active now (or `schema_name`), captured before the commit, so
    a schema switch between now and the commit cannot redirect the task.
    """
    headers = dict(options.pop("headers", None) or {})
    headers["_schema_name"] = schema_name or connection.schema_name
    if queue:
        options["queue"] = queue

    def send() -> None:
        task.apply_async(args=list(args), kwargs=kwargs or {}, headers=headers, **options)

    transaction.on_commit(send)
