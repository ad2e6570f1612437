"""Running a statement as a server-side prepared statement on Django's connection."""

from __future__ import annotations

import time
from collections.abc import Mapping

import psycopg
from django.db import connection


def run_prepared(sql: str, params: Mapping[str, object]) -> list[tuple]:
    """Run `sql` as a server-side prepared statement, planned once per connection.

    For the hot statements (a send's single-row moves, a trigger's one statement) planning
    costs about as much as running them. Django's cursors bind parameters on the client,
    which never prepares, so this takes a server-binding psycopg cursor on the same
    connection (after Django's cursor has connected it and set the tenant's search_path; a
    changed search_path re-plans the statement). Needs `prepare_threshold` set in the
    database OPTIONS, which leaves the ORM's client-side cursors as they are.
    """
    with connection.cursor() as wrapper:
        with psycopg.Cursor(wrapper.cursor.connection) as cursor:
            started = time.monotonic()
            cursor.execute(sql, params, prepare=True)
            rows = cursor.fetchall()
    if connection.queries_logged:  # as Django's debug cursor does: visible to query counts
        connection.queries_log.append(
            {"sql": sql, "time": f"{time.monotonic() - started:.3f}", "params": params}
        )
    return rows
