"""Workflow versions as the pipeline reads them: frozen snapshots of steps and flags.

A version is written by the configuration services; a workflow whose live version was never
frozen (rows written without them) is frozen here on first use, from its step rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cachetools import LRUCache
from django.db import connection, transaction

from notifications.models import StepType, Workflow, WorkflowStep, WorkflowVersion
from platform_core.db_backend.prepared import model_columns, prepared_instances


def step_representation(step: WorkflowStep) -> dict[str, Any]:
    """A step row in the API's list format, the format versions freeze."""
    if step.type == StepType.SEND:
        data = {"type": step.type, "channel": step.channel, "template": step.template_key}
        if step.unread_step is not None:
            data["condition"] = {"unread": step.unread_step}
        return data
    if step.type == StepType.DELAY:
        return {"type": step.type, "seconds": step.seconds}
    return {"type": step.type, "window_seconds": step.seconds}


def live_snapshot(workflow: Workflow) -> dict[str, Any]:
    """The workflow's rows as a snapshot: its flags and its steps in order."""
    steps = WorkflowStep.objects.filter(workflow=workflow).order_by("position")
    return {
        "critical": workflow.critical,
        "send_window": workflow.send_window,
        "steps": [step_representation(step) for step in steps],
    }


_WORKFLOWS_SQL = (
    f"SELECT {model_columns(Workflow, 'w')} FROM {Workflow._meta.db_table} w "
    "WHERE w.id = ANY(%(ids)s::bigint[])"
)

# Snapshots read, per process. A version is never changed once written, and a workflow is
# named by its schema, id and creation time (a tenant made again reuses ids, not times).
_snapshots: LRUCache = LRUCache(maxsize=2048)


def workflows_get(workflow_ids: Iterable[int | None]) -> dict[int, Workflow]:
    """{id: workflow} of those that exist (None and deleted ones are left out), in one
    prepared statement."""
    ids = sorted({pk for pk in workflow_ids if pk is not None})
    if not ids:
        return {}
    return {w.pk: w for w in prepared_instances(Workflow, _WORKFLOWS_SQL, {"ids": ids})}


def workflow_get(workflow_id: int | None) -> Workflow | None:
    """The workflow by id (None for None or a deleted one)."""
    return workflows_get([workflow_id]).get(workflow_id)


def version_snapshots(*, workflow: Workflow, numbers: list[int]) -> dict[int, dict]:
    """{number: snapshot} of the wanted versions: from this process's cache, or in one
    query; the live one is frozen from the workflow's rows if it never was."""
    key = (connection.schema_name, workflow.pk, workflow.created_at)
    snapshots = {n: _snapshots[(*key, n)] for n in numbers if (*key, n) in _snapshots}
    wanted = [n for n in numbers if n not in snapshots]
    if not wanted:
        return snapshots
    found = dict(
        WorkflowVersion.objects.filter(workflow=workflow, number__in=wanted).values_list(
            "number", "snapshot"
        )
    )
    if workflow.version in wanted and workflow.version not in found:
        with transaction.atomic():
            version, _ = WorkflowVersion.objects.get_or_create(
                workflow=workflow,
                number=workflow.version,
                defaults={"snapshot": live_snapshot(workflow)},
            )
        found[version.number] = version.snapshot
    if not connection.in_atomic_block:  # committed, not a write that may yet roll back
        for number, snapshot in found.items():
            _snapshots[(*key, number)] = snapshot
    return {**snapshots, **found}
