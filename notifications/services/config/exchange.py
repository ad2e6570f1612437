"""Configuration as code: a tenant's configuration as one document, and a document applied.

The document has one section per resource type, each a list of items in the shape the API's
GET shows (without ids and timestamps):

    version: 1
    templates: [{key, channel, locale, format, subject, body, cta_url, variants}, ...]
    workflows: [{key, name, critical, send_window, steps}, ...]
    routes:    [{event, workflow, priority, active, max_attempts}, ...]
    throttles: [{key, limit, window_seconds, channel, workflow, applies_to_critical}, ...]

`SECTIONS` lists them in the order they are applied (a workflow names templates, a route a
workflow); adding a resource is adding one `Section`. An import creates or replaces each
item through the service the API uses — the same validation, the same audit history — in one
transaction, and never deletes what the document does not name. Integrations are not part of
the document: they hold credentials, which are never exported, and name accounts that differ
between environments.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F

from notifications.models import (
    EventSchema,
    Route,
    Template,
    TemplateFormat,
    Throttle,
    Workflow,
)
from notifications.services.config.common import Fields
from notifications.services.config.routes import route_create, route_update
from notifications.services.config.schemas import event_schema_put
from notifications.services.config.templates import template_upsert
from notifications.services.config.throttles import throttle_create, throttle_replace
from notifications.services.config.workflows import (
    workflow_create,
    workflow_replace,
    workflow_step_representation,
)
from platform_core.errors import ApplicationError, validation_error

DOCUMENT_VERSION = 1

Item = dict[str, Any]

_STR, _INT, _BOOL, _LIST, _DICT, _NONE = (str,), (int,), (bool,), (list,), (dict,), (type(None),)


@dataclass(frozen=True)
class Section:
    """One resource type of the document: how its items are read, named and written."""

    name: str
    # Every field an item may have → the JSON types it may take.
    fields: Mapping[str, tuple[type, ...]]
    required: tuple[str, ...]
    # What an item is called in a diff and in errors (its key, event, or key and locale).
    identity: Callable[[Mapping[str, Any]], str]
    export: Callable[[], list[Item]]
    apply: Callable[[Mapping[str, Any]], None]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # A list field whose items are objects: its name → (their fields, their required fields).
    nested: Mapping[str, tuple[Mapping[str, tuple[type, ...]], tuple[str, ...]]] = field(
        default_factory=dict
    )


# --- templates -----------------------------------------------------------------------------


def _templates_export() -> list[Item]:
    templates = Template.objects.prefetch_related("variants").order_by("key", "locale")
    return [
        {
            "key": template.key,
            "channel": template.channel,
            "locale": template.locale,
            "format": template.format,
            "subject": template.subject,
            "body": template.body,
            "cta_url": template.cta_url,
            "variants": [
                {
                    "name": variant.name,
                    "weight": variant.weight,
                    "subject": variant.subject,
                    "body": variant.body,
                }
                for variant in sorted(template.variants.all(), key=lambda v: v.pk)
            ],
        }
        for template in templates
    ]


def _template_apply(item: Mapping[str, Any]) -> None:
    template_upsert(**item)


# --- workflows -----------------------------------------------------------------------------


def _workflows_export() -> list[Item]:
    workflows = Workflow.objects.prefetch_related("steps").order_by("key")
    return [
        {
            "key": workflow.key,
            "name": workflow.name,
            "critical": workflow.critical,
            "send_window": workflow.send_window,
            "track_clicks": workflow.track_clicks,
            "track_opens": workflow.track_opens,
            "steps": [
                workflow_step_representation(step)
                for step in sorted(workflow.steps.all(), key=lambda s: s.position)
            ],
        }
        for workflow in workflows
    ]


def _workflow_apply(item: Mapping[str, Any]) -> None:
    item = dict(item)
    workflow = Workflow.objects.filter(key=item["key"]).first()
    if workflow is None:
        workflow_create(**item)
    else:
        item.pop("key")
        workflow_replace(workflow=workflow, **item)


# --- routes --------------------------------------------------------------------------------


def _routes_export() -> list[Item]:
    return [
        {
            "event": route.event,
            "event_version": route.event_version,
            "workflow": route.workflow.key,
            "priority": route.priority,
            "active": route.active,
            "max_attempts": route.max_attempts,
        }
        # An event's unbound route first, then those bound to a version.
        for route in Route.objects.select_related("workflow").order_by(
            "event", F("event_version").asc(nulls_first=True)
        )
    ]


def _route_identity(item: Mapping[str, Any]) -> str:
    version = item.get("event_version")
    return str(item.get("event")) + (f"@v{version}" if version is not None else "")


def _route_apply(item: Mapping[str, Any]) -> None:
    fixed = ("event", "event_version", "workflow")
    values = {name: value for name, value in item.items() if name not in fixed}
    version = item.get("event_version")
    route = Route.objects.filter(event=item["event"], event_version=version).first()
    if route is None:
        route_create(
            event=item["event"], event_version=version, workflow_key=item["workflow"], **values
        )
    else:
        route_update(route=route, workflow_key=item["workflow"], **values)


# --- event schemas -------------------------------------------------------------------------


def _schemas_export() -> list[Item]:
    return [
        {"event": schema.event, "version": schema.version, "schema": schema.schema}
        for schema in EventSchema.objects.order_by("event", "version")
    ]


def _schema_apply(item: Mapping[str, Any]) -> None:
    event_schema_put(event=item["event"], version=item["version"], schema=item["schema"])


# --- throttles -----------------------------------------------------------------------------


def _throttles_export() -> list[Item]:
    return [
        {
            "key": throttle.key,
            "limit": throttle.limit,
            "window_seconds": throttle.window_seconds,
            "channel": throttle.channel or None,
            "workflow": throttle.workflow_key or None,
            "applies_to_critical": throttle.applies_to_critical,
        }
        for throttle in Throttle.objects.order_by("key")
    ]


def _throttle_apply(item: Mapping[str, Any]) -> None:
    values = {name: value for name, value in item.items() if name not in ("key", "workflow")}
    values["workflow_key"] = item.get("workflow")
    throttle = Throttle.objects.filter(key=item["key"]).first()
    if throttle is None:
        throttle_create(key=item["key"], **values)
    else:
        throttle_replace(throttle=throttle, **values)


SECTIONS: tuple[Section, ...] = (
    Section(
        name="templates",
        fields={
            "key": _STR,
            "channel": _STR,
            "locale": _STR,
            "format": _STR,
            "subject": _STR,
            "body": _STR,
            "cta_url": _STR,
            "variants": _LIST,
        },  # fmt: skip
        required=("key", "channel", "body"),
        identity=lambda item: f"{item.get('key')} [{item.get('locale', 'en')}]",
        export=_templates_export,
        apply=_template_apply,
        defaults={
            "locale": "en",
            "format": TemplateFormat.HTML,
            "subject": "",
            "cta_url": "",
            "variants": [],
        },  # fmt: skip
        nested={
            "variants": (
                {"name": _STR, "weight": _INT, "subject": _STR, "body": _STR},
                ("name", "body"),
            )
        },  # fmt: skip
    ),
    Section(
        name="workflows",
        fields={
            "key": _STR,
            "name": _STR,
            "critical": _BOOL,
            "send_window": _DICT + _NONE,
            "track_clicks": _BOOL,
            "track_opens": _BOOL,
            "steps": _LIST,
        },  # fmt: skip
        required=("key", "name", "steps"),
        identity=lambda item: str(item.get("key")),
        export=_workflows_export,
        apply=_workflow_apply,
        defaults={
            "critical": False,
            "send_window": None,
            "track_clicks": True,
            "track_opens": False,
        },
    ),
    Section(
        name="schemas",
        fields={"event": _STR, "version": _INT, "schema": _DICT},
        required=("event", "version", "schema"),
        identity=lambda item: f"{item.get('event')}@v{item.get('version')}",
        export=_schemas_export,
        apply=_schema_apply,
    ),
    Section(
        name="routes",
        fields={
            "event": _STR,
            "event_version": _INT + _NONE,
            "workflow": _STR,
            "priority": _STR,
            "active": _BOOL,
            "max_attempts": _INT,
        },  # fmt: skip
        required=("event", "workflow"),
        identity=_route_identity,
        export=_routes_export,
        apply=_route_apply,
        defaults={"event_version": None, "priority": "normal", "active": True, "max_attempts": 5},
    ),
    Section(
        name="throttles",
        fields={
            "key": _STR,
            "limit": _INT,
            "window_seconds": _INT,
            "channel": _STR + _NONE,
            "workflow": _STR + _NONE,
            "applies_to_critical": _BOOL,
        },  # fmt: skip
        required=("key", "limit", "window_seconds"),
        identity=lambda item: str(item.get("key")),
        export=_throttles_export,
        apply=_throttle_apply,
        defaults={"channel": None, "workflow": None, "applies_to_critical": False},
    ),
)


def config_export() -> dict[str, Any]:
    """The current schema's configuration as one document."""
    return {"version": DOCUMENT_VERSION, **{section.name: section.export() for section in SECTIONS}}


def _object_errors(
    where: str, item: Any, fields: Mapping[str, tuple[type, ...]], required: tuple[str, ...]
) -> Fields:
    if not isinstance(item, Mapping):
        return {where: ["Expected an object."]}
    errors: Fields = {}
    for name in sorted(set(item) - set(fields)):
        errors[f"{where}.{name}"] = [f"Unknown field; use: {', '.join(fields)}."]
    for name in required:
        if name not in item:
            errors[f"{where}.{name}"] = ["This field is required."]
    for name, types in fields.items():
        value = item.get(name)
        if name not in item or (value is None and type(None) in types):
            continue
        # bool is an int in Python, not in JSON.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            errors[f"{where}.{name}"] = [f"Expected {expected}."]
    return errors


def _item_errors(section: Section, index: int, item: Any) -> Fields:
    where = f"{section.name}.{index}"
    errors = _object_errors(where, item, section.fields, section.required)
    for name, (fields, required) in section.nested.items():
        values = item.get(name) if isinstance(item, Mapping) else None
        if isinstance(values, list) and f"{where}.{name}" not in errors:
            for position, value in enumerate(values):
                errors.update(_object_errors(f"{where}.{name}.{position}", value, fields, required))
    return errors


def config_document_errors(document: Any) -> Fields:
    """Problems with a document's shape (each item's meaning is the services' to check)."""
    if not isinstance(document, Mapping):
        return {"document": ["Expected an object with one list per resource type."]}
    names = [section.name for section in SECTIONS]
    errors: Fields = {}
    if document.get("version", DOCUMENT_VERSION) != DOCUMENT_VERSION:
        errors["version"] = [f"Only version {DOCUMENT_VERSION} is known."]
    for name in sorted(set(document) - {"version", *names}):
        errors[name] = [f"Unknown section; use: {', '.join(names)}."]
    for section in SECTIONS:
        items = document.get(section.name, [])
        if not isinstance(items, list):
            errors[section.name] = ["Expected a list."]
            continue
        for index, item in enumerate(items):
            errors.update(_item_errors(section, index, item))
    return errors


def _dumped(item: Item) -> list[str]:
    return json.dumps(item, indent=2, ensure_ascii=False, sort_keys=False).splitlines()


def config_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What changed between two documents, item by item: `+` new, `~` changed (a unified
    diff of the item), nothing for an item that stayed the same."""
    lines: list[str] = []
    for section in SECTIONS:
        old = {section.identity(item): item for item in before.get(section.name, [])}
        for item in after.get(section.name, []):
            name = section.identity(item)
            if name not in old:
                lines.append(f"+ {section.name} {name}")
                lines.extend(f"    + {line}" for line in _dumped(item))
            elif old[name] != item:
                lines.append(f"~ {section.name} {name}")
                diff = difflib.unified_diff(_dumped(old[name]), _dumped(item), lineterm="", n=1)
                lines.extend(f"    {line}" for line in list(diff)[2:])
    return lines


@dataclass(frozen=True)
class ImportResult:
    diff: list[str]
    created: int
    changed: int
    unchanged: int


def _apply(section: Section, index: int, item: Mapping[str, Any]) -> None:
    try:
        section.apply(item)
    except ApplicationError as exc:
        where = f"{section.name}.{index}"
        fields = {f"{where}.{name}": messages for name, messages in (exc.fields or {}).items()}
        raise ApplicationError(
            exc.code,
            f"{section.name} {section.identity(item)}: {exc.message}",
            kind=exc.kind,
            fields=fields or {where: [exc.message]},
        ) from None


@transaction.atomic
def config_import(*, document: Any, dry_run: bool = False) -> ImportResult:
    """Apply a document: every item created or replaced through its service, all in one
    transaction (an error anywhere changes nothing); `dry_run` rolls it back at the end.
    The diff is between the configuration before and after."""
    if errors := config_document_errors(document):
        raise validation_error(errors)
    before = config_export()
    for section in SECTIONS:
        for index, item in enumerate(document.get(section.name, [])):
            _apply(section, index, {**section.defaults, **item})
    after = config_export()
    if dry_run:
        transaction.set_rollback(True)
    created = changed = unchanged = 0
    for section in SECTIONS:
        old = {section.identity(item): item for item in before[section.name]}
        new = {section.identity(item): item for item in after[section.name]}
        for item in document.get(section.name, []):
            name = section.identity({**section.defaults, **item})
            if name not in old:
                created += 1
            elif old[name] != new.get(name):
                changed += 1
            else:
                unchanged += 1
    return ImportResult(
        diff=config_diff(before, after), created=created, changed=changed, unchanged=unchanged
    )


__all__ = [
    "DOCUMENT_VERSION",
    "SECTIONS",
    "ImportResult",
    "Section",
    "config_diff",
    "config_document_errors",
    "config_export",
    "config_import",
]
