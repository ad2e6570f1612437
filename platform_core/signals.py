"""Carries the correlation id from the request into every task, and counts task outcomes."""

from __future__ import annotations

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.db import close_old_connections, connection

from platform_core.observability import CORRELATION_HEADER, TASKS, request_id_var, tenant_var

_tokens: dict[str, tuple] = {}


@before_task_publish.connect(dispatch_uid="clarion_correlation_publish")
def add_correlation_header(headers=None, **_):
    if headers is not None and CORRELATION_HEADER not in headers:
        request_id = request_id_var.get()
        if request_id:
            headers[CORRELATION_HEADER] = request_id


@task_prerun.connect(dispatch_uid="clarion_db_prerun")
@task_postrun.connect(dispatch_uid="clarion_db_postrun")
def recycle_database_connections(**_):
    """Per task what Django does per request: drop broken or over-age connections only."""
    close_old_connections()


@task_prerun.connect(dispatch_uid="clarion_correlation_prerun")
def bind_task_context(task_id=None, task=None, **_):
    request_id = None
    if task is not None:
        # Custom headers land in `request.headers` or on the request itself, by transport.
        request_id = (task.request.headers or {}).get(CORRELATION_HEADER) or task.request.get(
            CORRELATION_HEADER
        )
    tenant = getattr(getattr(connection, "tenant", None), "slug", None)
    _tokens[task_id] = (request_id_var.set(request_id or task_id), tenant_var.set(tenant))


@task_postrun.connect(dispatch_uid="clarion_correlation_postrun")
def unbind_task_context(task_id=None, task=None, state=None, **_):
    tokens = _tokens.pop(task_id, None)
    if tokens:
        request_id_var.reset(tokens[0])
        tenant_var.reset(tokens[1])
    if task is not None:
        TASKS.labels(task.name, (state or "unknown").lower()).inc()
