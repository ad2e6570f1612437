"""Workflow versions as the pipeline reads them: frozen snapshots of steps and flags.

A version is written by the configuration services; a workflow whose live version was never
frozen (rows written without them) is frozen here on first use, from its step rows.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from notifications.models import StepType, Workflow, WorkflowStep, WorkflowVersion


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


def version_snapshots(*, workflow: Workflow, numbers: list[int]) -> dict[int, dict]:
    """{number: snapshot} of the wanted versions, in one query; the live one is frozen from
    the workflow's rows if it never was."""
    snapshots = dict(
        WorkflowVersion.objects.filter(workflow=workflow, number__in=numbers).values_list(
            "number", "snapshot"
        )
    )
    if workflow.version in numbers and workflow.version not in snapshots:
        with transaction.atomic():
            version, _ = WorkflowVersion.objects.get_or_create(
                workflow=workflow,
                number=workflow.version,
                defaults={"snapshot": live_snapshot(workflow)},
            )
        snapshots[version.number] = version.snapshot
    return snapshots
