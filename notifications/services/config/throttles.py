"""Writes of throttles: at most `limit` deliveries per subscriber in any `window_seconds`."""

from __future__ import annotations

import re

from django.db import transaction

from notifications.models import Channel, Throttle, Workflow
from notifications.pipeline.governance import THROTTLE_LIMIT_MAX, THROTTLE_WINDOW_MAX_SECONDS
from notifications.services.config.common import (
    KEY_MAX_LENGTH,
    KEY_RE,
    Fields,
    _conflict,
    _insert,
    _invalid,
    _is_int,
    _lock,
    key_validator,
)


def _throttle_validate(
    *, key: str | None, limit, window_seconds, channel: str | None, workflow_key: str | None
) -> None:
    errors: Fields = {}
    if key is not None and (len(key) > KEY_MAX_LENGTH or not re.match(KEY_RE, key)):
        errors["key"] = [key_validator.message]
    if not _is_int(limit) or not 1 <= limit <= THROTTLE_LIMIT_MAX:
        errors["limit"] = [f"Use a whole number from 1 to {THROTTLE_LIMIT_MAX}."]
    if not _is_int(window_seconds) or not 1 <= window_seconds <= THROTTLE_WINDOW_MAX_SECONDS:
        errors["window_seconds"] = [
            f"Use a whole number of seconds from 1 to {THROTTLE_WINDOW_MAX_SECONDS}."
        ]
    if channel and channel not in Channel.values:
        errors["channel"] = [f"Use null (every channel) or one of: {', '.join(Channel.values)}."]
    if workflow_key:
        # Shared: the workflow cannot vanish while the throttle is written.
        _lock("workflow", workflow_key, shared=True)
        if not Workflow.objects.filter(key=workflow_key).exists():
            errors["workflow"] = [f"No workflow '{workflow_key}'."]
    if errors:
        raise _invalid(errors)


@transaction.atomic
def throttle_create(
    *,
    key: str,
    limit: int,
    window_seconds: int,
    channel: str | None = None,
    workflow_key: str | None = None,
    applies_to_critical: bool = False,
) -> Throttle:
    """Add a throttle; 409 `throttle_exists` if the key is taken. Effective on the next send."""
    _throttle_validate(
        key=key,
        limit=limit,
        window_seconds=window_seconds,
        channel=channel,
        workflow_key=workflow_key,
    )
    _lock("throttle", key)
    exists = _conflict("throttle_exists", f"Throttle '{key}' exists already; PUT changes it.")
    if Throttle.objects.filter(key=key).exists():
        raise exists
    throttle = Throttle(
        key=key,
        limit=limit,
        window_seconds=window_seconds,
        channel=channel or "",
        workflow_key=workflow_key or "",
        applies_to_critical=applies_to_critical,
    )
    return _insert(throttle, conflict=exists)


@transaction.atomic
def throttle_replace(
    *,
    throttle: Throttle,
    limit: int,
    window_seconds: int,
    channel: str | None = None,
    workflow_key: str | None = None,
    applies_to_critical: bool = False,
) -> Throttle:
    """Set every field of a throttle (None: every channel / every workflow).

    Deliveries already counted stay counted: a smaller limit or a longer window applies to
    them at once.
    """
    _throttle_validate(
        key=None,
        limit=limit,
        window_seconds=window_seconds,
        channel=channel,
        workflow_key=workflow_key,
    )
    throttle = Throttle.objects.select_for_update().get(pk=throttle.pk)
    throttle.limit = limit
    throttle.window_seconds = window_seconds
    throttle.channel = channel or ""
    throttle.workflow_key = workflow_key or ""
    throttle.applies_to_critical = applies_to_critical
    throttle.save()
    return throttle


@transaction.atomic
def throttle_delete(*, throttle: Throttle) -> None:
    """Delete a throttle: its deliveries are no longer limited, from the next send on."""
    Throttle.objects.filter(pk=throttle.pk).delete()
