"""Workflow versions: drafts made without going live, progressive rollout, promote, rollback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from notifications.models import Workflow, WorkflowVersion
from notifications.services.config.common import _invalid, _lock
from notifications.services.config.workflows import (
    _live_apply,
    _send_window,
    _steps_validate,
    _version_add,
    _workflow_prefetched,
    workflow_snapshot,
)
from platform_core.errors import ApplicationError, ErrorKind


def _locked(workflow: Workflow) -> Workflow:
    _lock("workflow", workflow.key)
    return Workflow.objects.select_for_update().get(pk=workflow.pk)


def _version(workflow: Workflow, number: Any, *, field: str = "version") -> WorkflowVersion:
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise _invalid({field: ["Give a version number (1 or more)."]})
    version = WorkflowVersion.objects.filter(workflow=workflow, number=number).first()
    if version is None:
        raise ApplicationError(
            "version_not_found",
            f"Workflow '{workflow.key}' has no version {number}.",
            kind=ErrorKind.NOT_FOUND,
        )
    return version


def _percent(value: Any) -> Decimal:
    """A share of subscribers: 0 to 100, at most two decimals (a bucket is 0.01 %)."""
    message = "Give a number from 0 to 100, with at most two decimals."
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _invalid({"percent": [message]})
    try:
        percent = Decimal(str(value))
    except InvalidOperation:
        raise _invalid({"percent": [message]}) from None
    if (
        not percent.is_finite()
        or not 0 <= percent <= 100
        or percent != percent.quantize(Decimal("0.01"))
    ):
        raise _invalid({"percent": [message]})
    return percent.quantize(Decimal("0.01"))


@transaction.atomic
def workflow_version_create(
    *,
    workflow: Workflow,
    steps: Sequence[Mapping[str, Any]],
    critical: bool = False,
    send_window: Mapping[str, str] | None = None,
) -> WorkflowVersion:
    """Store the next version of a workflow without making it live (roll it out later)."""
    workflow = _locked(workflow)
    window = _send_window(send_window)
    _steps_validate(steps)
    snapshot = workflow_snapshot(critical=critical, send_window=window, steps=steps)
    return _version_add(workflow=workflow, snapshot=snapshot)


@transaction.atomic
def workflow_rollout(*, workflow: Workflow, version: Any, percent: Any) -> Workflow:
    """Send `version` to `percent` % of subscribers (the same ones each time), live to the rest.

    400 `version_is_live` for the live version; 404 `version_not_found` for an unknown one.
    """
    share = _percent(percent)
    workflow = _locked(workflow)
    target = _version(workflow, version)
    if target.number == workflow.version:
        raise ApplicationError(
            "version_is_live",
            f"Version {target.number} is live already; roll out another version.",
            kind=ErrorKind.VALIDATION,
            fields={"version": ["This version is live."]},
        )
    # Its templates must still exist, as when it was written.
    _steps_validate(target.snapshot["steps"])
    workflow.rollout_version = target.number
    workflow.rollout_percent = share
    workflow.save(update_fields=["rollout_version", "rollout_percent", "updated_at"])
    return _workflow_prefetched(workflow)


@transaction.atomic
def workflow_promote(*, workflow: Workflow) -> Workflow:
    """Make the version being rolled out live for everyone; 409 `no_rollout` if none is."""
    workflow = _locked(workflow)
    if workflow.rollout_version is None:
        raise ApplicationError(
            "no_rollout",
            f"Workflow '{workflow.key}' has no rollout to promote; POST /rollout first.",
            kind=ErrorKind.CONFLICT,
        )
    target = _version(workflow, workflow.rollout_version)
    _steps_validate(target.snapshot["steps"])
    _live_apply(workflow=workflow, version=target)
    return _workflow_prefetched(workflow)


@transaction.atomic
def workflow_rollback(*, workflow: Workflow, version: Any) -> Workflow:
    """Make an earlier version live again for everyone (any rollout ends)."""
    workflow = _locked(workflow)
    target = _version(workflow, version)
    _steps_validate(target.snapshot["steps"])
    _live_apply(workflow=workflow, version=target)
    return _workflow_prefetched(workflow)
