"""Reads of the audit history: each change of a configuration resource, who made it, its
state before and after.

The triggers of `notifications.models.audit` record one event row per changed row; a
resource's change is every event of its row and of its children (a workflow's steps, a
template's variants) written in one transaction under one audit context. The states before
and after are replayed from those rows, oldest first, so a step replaced inside a workflow
shows as the workflow's `steps` before and after.

NOTE: a resource's whole history is replayed on each read (configuration changes are few);
`since` and the page bound what is returned, not what is read.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model

from notifications.models.audit import AUDITED, AuditedResource


@dataclass(frozen=True)
class AuditEntry:
    """One change of one resource."""

    id: str
    resource: str
    key: str
    object_id: str
    action: str
    actor: str | None
    at: datetime.datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def audit_resource_for_model(model: type[Model]) -> str | None:
    """The audit resource a model's rows are recorded as (None: not audited)."""
    for name, resource in AUDITED.items():
        if resource.model is not None and resource.model._meta.concrete_model is model:
            return name
    return None


def _reference_keys(model: type[Model], ids: set[int]) -> dict[int, str]:
    """The keys of audited rows by id, those deleted since included (from their events)."""
    for resource in AUDITED.values():
        if resource.model is not None and resource.model._meta.concrete_model is model:
            events = resource.event_model().objects.filter(pgh_obj_id__in=ids)
            return dict(events.values_list("pgh_obj_id", resource.key_field))
    return {}


class _References:
    """A row's foreign keys to audited resources shown as their keys (`workflow: "orders"`
    rather than `workflow_id: 7`), looked up once per read."""

    def __init__(self) -> None:
        self._keys: dict[type[Model], dict[int, str]] = {}

    def load(self, fields, events: list[Model]) -> None:
        for field in fields:
            model = field.related_model
            ids = {getattr(event, field.attname) for event in events} - {None}
            missing = ids - set(self._keys.get(model, {}))
            if missing:
                self._keys.setdefault(model, {}).update(_reference_keys(model, missing))

    def key(self, model: type[Model], value: Any) -> Any:
        return self._keys.get(model, {}).get(value, value)


def _foreign_keys(event_model: type[Model]) -> list:
    return [
        field
        for field in event_model._meta.concrete_fields
        if field.is_relation and not field.name.startswith("pgh_")
    ]


def _row(event: Model, references: _References | None = None) -> dict[str, Any]:
    """The recorded fields of an event: the row's values, without pghistory's own."""
    row: dict[str, Any] = {}
    for field in event._meta.concrete_fields:
        if field.name.startswith("pgh_"):
            continue
        value = getattr(event, field.attname)
        if field.is_relation and references is not None:
            row[field.name] = references.key(field.related_model, value)
        else:
            row[field.attname] = value
    return row


def _state(
    resource: AuditedResource,
    parent: dict[str, Any] | None,
    children: dict[str, dict[int, dict[str, Any]]],
) -> dict[str, Any] | None:
    if parent is None:
        return None
    # Row ids are not shown, unless the id is what names the resource (an integration).
    state = {n: v for n, v in parent.items() if n != "id" or resource.key_field == "id"}
    for child in resource.children:
        fk = f"{child.parent_field}_id"
        rows = [
            {name: value for name, value in row.items() if name not in ("id", fk)}
            for row in children[child.collection].values()
        ]
        state[child.collection] = sorted(rows, key=lambda row: _sortable(row.get(child.order)))
    return state


def _sortable(value: Any) -> tuple:
    return (value is None, str(value) if not isinstance(value, int) else f"{value:012d}")


def _history(
    resource: AuditedResource, object_id: int, events: list[tuple], references: _References
) -> list[AuditEntry]:
    """Replay one row's events (and its children's) into changes, oldest first: the events
    written in a row under one audit context are one change."""
    parent: dict[str, Any] | None = None
    children: dict[str, dict[int, dict[str, Any]]] = {c.collection: {} for c in resource.children}
    entries: list[AuditEntry] = []
    events.sort(key=lambda item: item[0])
    index = 0
    while index < len(events):
        first_sort, _, first = events[index]
        group = first.pgh_context_id or f"{events[index][0]}"
        before = _state(resource, parent, children)
        action, actor, key = "update", None, None
        while index < len(events):
            _, collection, event = events[index]
            if (event.pgh_context_id or f"{events[index][0]}") != group:
                break
            index += 1
            row = _row(event, references if collection is None else None)
            if actor is None and isinstance(event.pgh_context, dict):
                actor = event.pgh_context.get("actor")
            if collection is None:
                if event.pgh_label == "create":
                    action = "create"
                elif event.pgh_label == "delete" and action != "create":
                    action = "delete"
                parent = None if event.pgh_label == "delete" else row
                key = row.get(resource.key_field)
            elif event.pgh_label == "delete":
                children[collection].pop(event.pgh_obj_id, None)
            else:
                children[collection][event.pgh_obj_id] = row
        after = _state(resource, parent, children)
        if before == after:
            continue
        if key is None:
            key = (after or before or {}).get(resource.key_field)
        at = first.pgh_created_at
        entries.append(
            AuditEntry(
                id=f"{resource.name}:{object_id}:{first_sort[1]}.{first_sort[2]}",
                resource=resource.name,
                key=str(key) if key is not None else "",
                object_id=str(object_id),
                action=action,
                actor=actor,
                at=at,
                before=before,
                after=after,
            )
        )
    return entries


def _events(resource: AuditedResource, object_ids: Iterable[int] | None) -> dict[int, list]:
    """Each row's events and its children's, keyed by the row's id, sortable in the order
    they were written."""
    parent_events = resource.event_model().objects.all()
    if object_ids is not None:
        parent_events = parent_events.filter(pgh_obj_id__in=list(object_ids))
    by_object: dict[int, list] = {}
    for event in parent_events.order_by("pgh_id"):
        sort = (event.pgh_created_at, 0, event.pgh_id)
        by_object.setdefault(event.pgh_obj_id, []).append((sort, None, event))
    for position, child in enumerate(resource.children, start=1):
        fk = f"{child.parent_field}_id"
        child_events = child.model.pgh_event_model.objects.filter(**{f"{fk}__in": list(by_object)})
        for event in child_events.order_by("pgh_id"):
            sort = (event.pgh_created_at, position, event.pgh_id)
            by_object[getattr(event, fk)].append((sort, child.collection, event))
    return by_object


def audit_entries(
    *,
    resource: str,
    key: str | None = None,
    since: datetime.datetime | None = None,
    object_id: int | None = None,
) -> list[AuditEntry]:
    """Changes of `resource` (optionally one `key` or row), newest first; empty for a
    resource with no audited model yet."""
    audited = AUDITED.get(resource)
    if audited is None or audited.model is None:
        return []
    object_ids = None
    if key is not None:
        try:
            value = audited.event_model()._meta.get_field(audited.key_field).to_python(key)
        except ValidationError:
            return []
        object_ids = set(
            audited.event_model()
            .objects.filter(**{audited.key_field: value})
            .values_list("pgh_obj_id", flat=True)
        )
    if object_id is not None:
        object_ids = {object_id} if object_ids is None else object_ids & {object_id}
    entries: list[AuditEntry] = []
    by_object = _events(audited, object_ids)
    references = _References()
    parent_events = [event for events in by_object.values() for _, c, event in events if c is None]
    references.load(_foreign_keys(audited.event_model()), parent_events)
    for obj_id, events in by_object.items():
        entries.extend(_history(audited, obj_id, events, references))
    if since is not None:
        entries = [entry for entry in entries if entry.at >= since]
    entries.sort(key=lambda entry: (entry.at, entry.id), reverse=True)
    return entries
