"""Writes of event schemas: one JSON Schema (2020-12) per event and version."""

from __future__ import annotations

import json
import re
from typing import Any

from django.db import transaction
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from notifications.models import EventSchema
from notifications.selectors.event_schemas import event_schemas_forget
from notifications.services.config.common import EVENT_RE, Fields, _invalid, _lock, event_validator

SCHEMA_MAX_BYTES = 64 * 1024
EVENT_VERSION_MAX = 1_000_000


def _remote_refs(schema: Any, at: str = "schema") -> Fields:
    """`$ref`s that point outside the schema: refused, since nothing is ever fetched."""
    errors: Fields = {}
    if isinstance(schema, dict):
        for name, value in schema.items():
            if name in ("$ref", "$dynamicRef") and isinstance(value, str):
                if not value.startswith("#"):
                    errors.setdefault(f"{at}/{name}", []).append(
                        f"Only references inside the schema ('#/...') are allowed, not '{value}'."
                    )
            else:
                errors.update(_remote_refs(value, f"{at}/{name}"))
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            errors.update(_remote_refs(value, f"{at}/{index}"))
    return errors


def event_schema_errors(*, event: str, version: Any, schema: Any) -> Fields:
    """Everything wrong with an event schema, by field."""
    errors: Fields = {}
    if not re.match(EVENT_RE, event or ""):
        errors["event"] = [event_validator.message]
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not (1 <= version <= EVENT_VERSION_MAX)
    ):
        errors["version"] = [f"Use a whole number from 1 to {EVENT_VERSION_MAX}."]
    if not isinstance(schema, dict):
        errors["schema"] = ["Expected a JSON Schema object."]
        return errors
    size = len(json.dumps(schema, separators=(",", ":")).encode())
    if size > SCHEMA_MAX_BYTES:
        errors["schema"] = [f"At most {SCHEMA_MAX_BYTES // 1024} KB of JSON ({size} bytes given)."]
        return errors
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "".join(f"/{part}" for part in exc.absolute_path)
        errors["schema"] = [f"Not a valid JSON Schema 2020-12: {exc.message} (at '{path or '/'}')."]
        return errors
    errors.update(_remote_refs(schema))
    return errors


@transaction.atomic
def event_schema_put(*, event: str, version: int, schema: dict) -> tuple[EventSchema, bool]:
    """Register or replace the schema of `event` version `version`; (row, created)."""
    if errors := event_schema_errors(event=event, version=version, schema=schema):
        raise _invalid(errors)
    _lock("event-schema", f"{event}:{version}")
    row, created = EventSchema.objects.update_or_create(
        event=event, version=version, defaults={"schema": schema}
    )
    _forget()
    return row, created


def _forget() -> None:
    # Now, for the rest of this transaction, and again on commit, in case another process
    # cached the index from the database meanwhile.
    event_schemas_forget()
    transaction.on_commit(event_schemas_forget)


@transaction.atomic
def event_schema_delete(*, event_schema: EventSchema) -> None:
    """Delete one version's schema; triggers of that version are no longer accepted."""
    EventSchema.objects.filter(pk=event_schema.pk).delete()
    _forget()
