"""Writes of workflows and their steps, and the step rules the API and the admin share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction

from notifications.models import (
    Channel,
    Route,
    StepType,
    Template,
    Workflow,
    WorkflowStep,
    WorkflowVersion,
)
from notifications.pipeline.quiet_hours import WindowError, window_parse
from notifications.pipeline.versions import step_representation, version_snapshots
from notifications.services.config.common import (
    DELAY_MAX_SECONDS,
    DIGEST_MAX_SECONDS,
    MAX_STEPS,
    Fields,
    _conflict,
    _insert,
    _invalid,
    _is_int,
    _lock,
)

_STEP_KEYS = {
    StepType.SEND: {"type", "channel", "template", "condition"},
    StepType.DELAY: {"type", "seconds"},
    StepType.DIGEST: {"type", "window_seconds"},
}


def workflow_steps_errors(*, steps: Sequence[Mapping[str, Any]]) -> Fields:
    """Everything wrong with a list of steps in the API's format, by field (`steps.2.seconds`)."""
    errors: Fields = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if len(steps) > MAX_STEPS:
        add("steps", f"At most {MAX_STEPS} steps.")
        return errors
    template_channels: dict[str, set[str]] = {}
    keys = {str(step.get("template")) for step in steps if isinstance(step, Mapping)}
    for key, channel in Template.objects.filter(key__in=keys).values_list("key", "channel"):
        template_channels.setdefault(key, set()).add(channel)

    sends = 0
    for index, step in enumerate(steps):
        at = f"steps.{index}"
        if not isinstance(step, Mapping):
            add(at, "Expected an object.")
            continue
        kind = step.get("type")
        if kind not in _STEP_KEYS:
            add(f"{at}.type", f"Use one of: {', '.join(StepType.values)}.")
            continue
        for unknown in sorted(set(step) - _STEP_KEYS[kind]):
            add(f"{at}.{unknown}", "Unknown field.")
        if kind == StepType.SEND:
            sends += 1
            channel, key = step.get("channel"), step.get("template")
            if channel not in Channel.values:
                add(f"{at}.channel", f"Use one of: {', '.join(Channel.values)}.")
            if not key or not isinstance(key, str):
                add(f"{at}.template", "This field is required.")
            elif key not in template_channels:
                add(f"{at}.template", f"No template '{key}'.")
            elif channel in Channel.values and channel not in template_channels[key]:
                have = ", ".join(sorted(template_channels[key]))
                add(f"{at}.template", f"Template '{key}' is for {have}, not {channel}.")
            if step.get("condition") is not None:
                _condition_errors(step["condition"], index, steps, add)
        elif kind == StepType.DELAY:
            seconds = step.get("seconds")
            if not _is_int(seconds) or not 1 <= seconds <= DELAY_MAX_SECONDS:
                add(f"{at}.seconds", f"Use a whole number from 1 to {DELAY_MAX_SECONDS} (30 days).")
        else:
            window = step.get("window_seconds")
            if not _is_int(window) or not 1 <= window <= DIGEST_MAX_SECONDS:
                add(
                    f"{at}.window_seconds",
                    f"Use a whole number from 1 to {DIGEST_MAX_SECONDS} (1 day).",
                )
    if not sends and not errors:
        add("steps", "A workflow needs at least one send step.")
    return errors


def _condition_errors(condition: Any, index: int, steps: Sequence[Mapping], add) -> None:
    at = f"steps.{index}.condition"
    if not isinstance(condition, Mapping):
        add(at, 'Expected an object such as {"unread": 0}.')
        return
    for unknown in sorted(set(condition) - {"unread"}):
        add(f"{at}.{unknown}", "Unknown field.")
    target = condition.get("unread")
    if not _is_int(target):
        add(f"{at}.unread", "Give the index of an earlier in_app send step.")
        return
    earlier = steps[target] if 0 <= target < index else None
    if not (
        isinstance(earlier, Mapping)
        and earlier.get("type") == StepType.SEND
        and earlier.get("channel") == Channel.IN_APP
    ):
        add(f"{at}.unread", f"Step {target} is not an earlier in_app send step.")


def workflow_step_representation(step: WorkflowStep) -> dict[str, Any]:
    """A step row in the API's list format (the inverse of what `_steps_write` stores)."""
    return step_representation(step)


def _steps_write(*, workflow: Workflow, steps: Sequence[Mapping[str, Any]]) -> None:
    rows = []
    for position, step in enumerate(steps):
        row = WorkflowStep(workflow=workflow, position=position, type=step["type"])
        if step["type"] == StepType.SEND:
            row.channel = step["channel"]
            row.template_key = step["template"]
            row.unread_step = (step.get("condition") or {}).get("unread")
        elif step["type"] == StepType.DELAY:
            row.seconds = step["seconds"]
        else:
            row.seconds = step["window_seconds"]
        rows.append(row)
    WorkflowStep.objects.bulk_create(rows)


def _steps_validate(steps: Sequence[Mapping[str, Any]]) -> None:
    # Shared locks: templates may be read by many workflow writes, but not deleted meanwhile.
    _lock("template", *_template_keys(steps), shared=True)
    if errors := workflow_steps_errors(steps=steps):
        raise _invalid(errors)


def _template_keys(steps: Iterable[Any]) -> list[str]:
    return [
        step["template"]
        for step in steps
        if isinstance(step, Mapping) and isinstance(step.get("template"), str)
    ]


def _workflow_prefetched(workflow: Workflow) -> Workflow:
    return Workflow.objects.prefetch_related("steps").get(pk=workflow.pk)


def workflow_snapshot(
    *, critical: bool, send_window: Mapping[str, str] | None, steps: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """What a version freezes: the flags and the steps, in the API's list format."""
    frozen = []
    for step in steps:
        step = dict(step)
        if step.get("condition") is not None:
            step["condition"] = dict(step["condition"])
        else:
            step.pop("condition", None)
        frozen.append(step)
    return {"critical": bool(critical), "send_window": send_window, "steps": frozen}


def _version_add(*, workflow: Workflow, snapshot: dict[str, Any]) -> WorkflowVersion:
    """Number and store the next version of `workflow` (hold its advisory lock)."""
    # A workflow written without these services has its live version frozen first.
    version_snapshots(workflow=workflow, numbers=[workflow.version])
    last = (
        WorkflowVersion.objects.filter(workflow=workflow)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    return WorkflowVersion.objects.create(
        workflow=workflow, number=(last or 0) + 1, snapshot=snapshot
    )


def _live_apply(*, workflow: Workflow, version: WorkflowVersion) -> None:
    """Make `version` live: the workflow's flags and step rows become its snapshot, and any
    rollout ends. The workflow row must be locked (select_for_update)."""
    snapshot = version.snapshot
    workflow.critical = snapshot["critical"]
    workflow.send_window = snapshot["send_window"]
    workflow.version = version.number
    workflow.rollout_version = None
    workflow.rollout_percent = None
    workflow.save()
    workflow.steps.all().delete()
    _steps_write(workflow=workflow, steps=snapshot["steps"])


def _send_window(value: Any) -> dict[str, str] | None:
    """The workflow's send window in its stored form; 400 naming `send_window` if invalid."""
    try:
        window = window_parse(value)
    except WindowError as exc:
        raise _invalid({"send_window": [str(exc)]}) from None
    return window.as_dict() if window else None


@transaction.atomic
def workflow_create(
    *,
    key: str,
    name: str,
    steps: Sequence[Mapping[str, Any]],
    critical: bool = False,
    send_window: Mapping[str, str] | None = None,
    track_clicks: bool = True,
    track_opens: bool = False,
) -> Workflow:
    """Create a workflow and its steps; 409 `workflow_exists` if the key is taken."""
    _lock("workflow", key)
    exists = _conflict("workflow_exists", f"Workflow '{key}' already exists; PUT replaces it.")
    if Workflow.objects.filter(key=key).exists():
        raise exists
    window = _send_window(send_window)
    _steps_validate(steps)
    workflow = _insert(
        Workflow(
            key=key,
            name=name,
            critical=critical,
            send_window=window,
            track_clicks=track_clicks,
            track_opens=track_opens,
            version=1,
        ),
        conflict=exists,
    )
    _steps_write(workflow=workflow, steps=steps)
    WorkflowVersion.objects.create(
        workflow=workflow,
        number=1,
        snapshot=workflow_snapshot(critical=critical, send_window=window, steps=steps),
    )
    return _workflow_prefetched(workflow)


@transaction.atomic
def workflow_replace(
    *,
    workflow: Workflow,
    name: str,
    steps: Sequence[Mapping[str, Any]],
    critical: bool = False,
    send_window: Mapping[str, str] | None = None,
    track_clicks: bool = True,
    track_opens: bool = False,
) -> Workflow:
    """Replace a workflow's name, criticality, send window, tracking and its whole list of
    steps.

    A change of steps or flags (criticality, send window) is a new version, live at once
    (any rollout ends); the same steps and flags again make no version. The name and the
    tracking settings belong to the workflow, not to its versions.
    """
    _lock("workflow", workflow.key)
    window = _send_window(send_window)
    _steps_validate(steps)
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    workflow.name = name
    workflow.track_clicks = track_clicks
    workflow.track_opens = track_opens
    snapshot = workflow_snapshot(critical=critical, send_window=window, steps=steps)
    live = WorkflowVersion.objects.filter(workflow=workflow, number=workflow.version).first()
    if live is not None and live.snapshot == snapshot:
        workflow.save(update_fields=["name", "track_clicks", "track_opens", "updated_at"])
    else:
        _live_apply(workflow=workflow, version=_version_add(workflow=workflow, snapshot=snapshot))
    return _workflow_prefetched(workflow)


@transaction.atomic
def workflow_delete(*, workflow: Workflow) -> None:
    """Delete a workflow and its steps; 409 `workflow_in_use` while a route points at it."""
    _lock("workflow", workflow.key)
    events = list(Route.objects.filter(workflow_id=workflow.pk).values_list("event", flat=True))
    if events:
        shown = ", ".join(sorted(events)[:10]) + (" …" if len(events) > 10 else "")
        raise _conflict(
            "workflow_in_use",
            f"Workflow '{workflow.key}' is used by route(s) {shown}; change those routes first.",
        )
    Workflow.objects.filter(pk=workflow.pk).delete()
