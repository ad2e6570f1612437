"""Writes of routes: which event starts which workflow, at what priority."""

from __future__ import annotations

import re

from django.db import transaction

from notifications.models import Priority, Route, Workflow
from notifications.services.config.common import (
    DEFAULT_MAX_ATTEMPTS,
    EVENT_RE,
    MAX_ATTEMPTS_RANGE,
    Fields,
    _conflict,
    _insert,
    _invalid,
    _is_int,
    _lock,
    _set_given,
    event_validator,
)


def _route_fields_validate(
    *, priority: str | None, max_attempts: int | None, event: str | None = None
) -> None:
    errors: Fields = {}
    if event is not None and not re.match(EVENT_RE, event):
        errors["event"] = [event_validator.message]
    if priority is not None and priority not in Priority.values:
        errors["priority"] = [f"Use one of: {', '.join(Priority.values)}."]
    low, high = MAX_ATTEMPTS_RANGE
    if max_attempts is not None and (not _is_int(max_attempts) or not low <= max_attempts <= high):
        errors["max_attempts"] = [f"Use a whole number from {low} to {high}."]
    if errors:
        raise _invalid(errors)


def _workflow_for_route(key: str) -> Workflow:
    # Shared: routes may be pointed at a workflow concurrently, but it cannot vanish meanwhile.
    _lock("workflow", key, shared=True)
    workflow = Workflow.objects.filter(key=key).first()
    if workflow is None:
        raise _invalid({"workflow": [f"No workflow '{key}'."]})
    return workflow


@transaction.atomic
def route_create(
    *,
    event: str,
    workflow_key: str,
    priority: str = Priority.NORMAL,
    active: bool = True,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    event_version: int | None = None,
) -> Route:
    """Route `event` (only its version `event_version`, if given) to a workflow; 409
    `route_exists` if that event and version are routed already."""
    _route_fields_validate(event=event, priority=priority, max_attempts=max_attempts)
    if event_version is not None and (not _is_int(event_version) or event_version < 1):
        raise _invalid({"event_version": ["Use a whole number, 1 or more."]})
    workflow = _workflow_for_route(workflow_key)
    _lock("route", f"{event}:{event_version or ''}")
    shown = f"Event '{event}'" + (f" version {event_version}" if event_version else "")
    exists = _conflict(
        "route_exists", f"{shown} is routed already; PUT or PATCH changes its route."
    )
    if Route.objects.filter(event=event, event_version=event_version).exists():
        raise exists
    route = Route(
        event=event,
        event_version=event_version,
        workflow=workflow,
        priority=priority,
        active=active,
        max_attempts=max_attempts,
    )
    return _insert(route, conflict=exists)


@transaction.atomic
def route_update(
    *,
    route: Route,
    workflow_key: str | None = None,
    priority: str | None = None,
    active: bool | None = None,
    max_attempts: int | None = None,
) -> Route:
    """Change the given fields of a route (None keeps a field as it is)."""
    _route_fields_validate(priority=priority, max_attempts=max_attempts)
    route = Route.objects.select_for_update().select_related("workflow").get(pk=route.pk)
    if workflow_key is not None:
        route.workflow = _workflow_for_route(workflow_key)
    _set_given(route, priority=priority, active=active, max_attempts=max_attempts)
    route.save()
    return route


@transaction.atomic
def route_delete(*, route: Route) -> None:
    """Delete a route: its event stops being accepted (422 `unknown_event`)."""
    Route.objects.filter(pk=route.pk).delete()
