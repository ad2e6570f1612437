"""Reads of event schemas, and payload validation against them (JSON Schema 2020-12).

The trigger path asks `event_schema_versions` for every event. It answers from a per-tenant
index kept in this process, so a trigger costs no query and no cache round trip for it; the
trigger's own statement compares the event's schemas in the database with the index's
`event_schema_stamp` and, when they differ (a schema written by another process), the
trigger drops the index (`event_schemas_forget`) and runs again. Compiled validators are
kept in-process per (tenant, schema id, updated_at): an edited schema gets a new entry.
Remote `$ref`s are never fetched: the registry refuses every retrieval.
"""

from __future__ import annotations

import functools
import logging
import threading
from datetime import datetime

from cachetools import LRUCache
from django.db import connection
from django.db.models import QuerySet
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

from notifications.models import EventSchema, Route
from notifications.rendering import payload_fields

logger = logging.getLogger(__name__)

# {event: {version: (schema pk, updated_at)}}
Index = dict[str, dict[int, tuple[int, datetime]]]

# Tenants one process serves; beyond this many, the least recently used go.
_INDEXES: LRUCache = LRUCache(maxsize=4096)
_INDEXES_LOCK = threading.Lock()


def _refuse_retrieval(uri: str):
    raise NoSuchResource(ref=uri)


# Only what a schema holds itself can be referenced; nothing is ever fetched.
REGISTRY: Registry = Registry(retrieve=_refuse_retrieval)


def event_schema_list(*, event: str | None = None) -> QuerySet[EventSchema]:
    """Event schemas in (event, version) order, optionally of one event."""
    queryset = EventSchema.objects.order_by("event", "version")
    if event is not None:
        queryset = queryset.filter(event=event)
    return queryset


def _index_load() -> Index:
    index: Index = {}
    rows = EventSchema.objects.values_list("event", "version", "pk", "updated_at")
    for event, version, pk, updated_at in rows:
        index.setdefault(event, {})[version] = (pk, updated_at)
    return index


def _index() -> Index:
    schema_name = connection.schema_name
    with _INDEXES_LOCK:
        index = _INDEXES.get(schema_name)
    if index is None:
        index = _index_load()
        with _INDEXES_LOCK:
            _INDEXES[schema_name] = index
    return index


def event_schemas_forget() -> None:
    """Drop this process's index of the current tenant (after a schema write, or when a
    trigger found the database's schemas differ from it)."""
    with _INDEXES_LOCK:
        _INDEXES.pop(connection.schema_name, None)


def event_schema_versions(*, event: str) -> dict[int, tuple[int, datetime]]:
    """{version: (schema id, updated_at)} of the event's schemas; {} when it has none."""
    return _index().get(event, {})


def event_schema_stamp(versions: dict[int, tuple[int, datetime]]) -> tuple[list, list]:
    """(ids, updated_ats) of an event's schemas in id order: what the trigger statement
    compares with the database's rows."""
    rows = sorted(versions.values())
    return [pk for pk, _ in rows], [updated_at for _, updated_at in rows]


@functools.lru_cache(maxsize=1024)
def _validator(schema_name: str, pk: int, updated_at: datetime) -> Draft202012Validator | None:
    schema = EventSchema.objects.filter(pk=pk).values_list("schema", flat=True).first()
    if schema is None:
        return None
    return Draft202012Validator(
        schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _pointer(parts) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def payload_errors(*, schema_ref: tuple[int, datetime], payload: object) -> dict[str, list[str]]:
    """Every way `payload` breaks the schema, by JSON pointer (`payload/order_id`)."""
    validator = _validator(connection.schema_name, *schema_ref)
    if validator is None:  # deleted meanwhile: nothing to hold the payload to
        return {}
    fields: dict[str, list[str]] = {}

    def add(pointer: str, message: str) -> None:
        messages = fields.setdefault(pointer, [])
        if message not in messages:
            messages.append(message)

    try:
        for error in validator.iter_errors(payload):
            at = "payload" + _pointer(error.absolute_path)
            if error.validator == "required" and isinstance(error.instance, dict):
                for name in error.validator_value:
                    if name not in error.instance:
                        add(f"{at}{_pointer([name])}", "This field is required.")
                continue
            add(at, error.message)
    except Unresolvable as exc:
        add("payload", f"The schema refers to something it does not hold: {exc}.")
    return fields


def _declared(schema: object) -> set[str] | None:
    """Top-level property names a schema declares; None when it leaves them open."""
    if not isinstance(schema, dict):
        return None
    names = set(schema.get("properties") or {})
    if not names and not schema.get("required"):
        return None
    return names | set(schema.get("required") or [])


def template_schema_warnings(*, template_key: str, sources: list[str]) -> list[str]:
    """Payload keys the template reads that no schema of its events declares: warnings only.

    Its events are those routed to a workflow whose live steps use the template; an event
    whose schemas leave properties open (or that has none) warns about nothing.
    """
    used = set().union(*(payload_fields(source) for source in sources)) if sources else set()
    if not used:
        return []
    events = set(
        Route.objects.filter(workflow__steps__template_key=template_key).values_list(
            "event", flat=True
        )
    )
    if not events:
        return []
    declared: dict[str, set[str] | None] = {}
    versions: dict[str, list[int]] = {}
    for event, version, schema in EventSchema.objects.filter(event__in=events).values_list(
        "event", "version", "schema"
    ):
        names = _declared(schema)
        if event in declared and declared[event] is None:
            continue
        declared[event] = None if names is None else (declared.get(event) or set()) | names
        versions.setdefault(event, []).append(version)
    warnings = []
    for event in sorted(declared):
        names = declared[event]
        if names is None:
            continue
        shown = ", ".join(str(v) for v in sorted(versions[event]))
        warnings.extend(
            f"payload.{name} is not in the schema of '{event}' (version {shown})."
            for name in sorted(used - names)
        )
    return warnings
