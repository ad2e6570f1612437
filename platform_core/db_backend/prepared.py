"""Running a statement as a server-side prepared statement on Django's connection."""

from __future__ import annotations

import time
from collections.abc import Mapping

import psycopg
from django.db import connection, models


def run_prepared(sql: str, params: Mapping[str, object]) -> list[tuple]:
    """Run `sql` as a server-side prepared statement, planned once per connection.

    For the hot statements (a send's single-row moves, a trigger's one statement) planning
    costs about as much as running them. Django's cursors bind parameters on the client,
    which never prepares, so this takes a server-binding psycopg cursor on the same
    connection (after Django's cursor has connected it and set the tenant's search_path; a
    changed search_path re-plans the statement). Needs `prepare_threshold` set in the
    database OPTIONS, which leaves the ORM's client-side cursors as they are.
    """
    return _execute(sql, params)[1]


def model_columns(model: type[models.Model], alias: str) -> str:
    """The select list `prepared_instances` expects first: every concrete column of `model`
    as `alias.column`, in field order."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def prepared_instances(
    model: type[models.Model], sql: str, params: Mapping[str, object]
) -> list[models.Model]:
    """Run `sql` as `run_prepared` does and build a `model` instance from each row.

    The statement selects `model_columns(model, ...)` first; any further columns become
    attributes of the instance under their names (as with `QuerySet.raw`). Field converters
    run as the ORM runs them (a JSON column arrives as text and is decoded here).
    """
    names, rows = _execute(sql, params)
    fields = model._meta.concrete_fields
    count = len(fields)
    attnames = [field.attname for field in fields]
    extra = names[count:]
    converters = [
        (position, field.from_db_value)
        for position, field in enumerate(fields)
        if hasattr(field, "from_db_value")
    ]
    instances = []
    for row in rows:
        values = list(row[:count])
        for position, convert in converters:
            values[position] = convert(values[position], None, connection)
        instance = model.from_db(connection.alias, attnames, values)
        for name, value in zip(extra, row[count:], strict=True):
            setattr(instance, name, value)
        instances.append(instance)
    return instances


def _execute(sql: str, params: Mapping[str, object]) -> tuple[list[str], list[tuple]]:
    with connection.cursor() as wrapper:
        with psycopg.Cursor(wrapper.cursor.connection) as cursor:
            started = time.monotonic()
            cursor.execute(sql, params, prepare=True)
            names = [column.name for column in cursor.description or ()]
            rows = cursor.fetchall() if cursor.description else []
    if connection.queries_logged:  # as Django's debug cursor does: visible to query counts
        connection.queries_log.append(
            {"sql": sql, "time": f"{time.monotonic() - started:.3f}", "params": params}
        )
    return names, rows
