"""The database backend keeps a connection's search_path across requests of one tenant, and
never lets a query run against another tenant's tables."""

from __future__ import annotations

from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from notifications.models import Subscriber


def _search_path_statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SET search_path")]


def test_requests_of_one_tenant_set_the_search_path_once(acme_api):
    assert acme_api.get("/api/v1/subscribers").status_code == 200

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert acme_api.get("/api/v1/subscribers").status_code == 200

    assert _search_path_statements(queries) == []


def test_switching_tenants_sets_each_path_and_reads_each_tenants_rows(acme, globex):
    with schema_context(acme.schema):
        Subscriber.objects.create(subscriber_id="only-in-acme")

    with CaptureQueriesContext(connection) as queries:
        seen = []
        for schema in (acme.schema, globex.schema, acme.schema):
            with schema_context(schema):
                seen.append(Subscriber.objects.filter(subscriber_id="only-in-acme").exists())

    # then: acme's path was already applied by the insert; each switch sets the new one
    assert seen == [True, False, True]
    assert _search_path_statements(queries) == [
        f'SET search_path = "{globex.schema}","public"',
        f'SET search_path = "{acme.schema}","public"',
    ]


def test_a_savepoint_rollback_sets_the_path_again(acme, globex):
    with schema_context(acme.schema):
        Subscriber.objects.create(subscriber_id="acme-row")
    with schema_context(globex.schema), CaptureQueriesContext(connection) as queries:
        try:
            with transaction.atomic():
                Subscriber.objects.count()
                raise DatabaseError("roll back")
        except DatabaseError:
            pass
        found = Subscriber.objects.filter(subscriber_id="acme-row").exists()

    # then: after the rollback (which may undo a SET) the path is set before the next query
    statements = [q["sql"] for q in queries.captured_queries]
    after = statements[next(i for i, sql in enumerate(statements) if "ROLLBACK TO" in sql) :]
    assert f'SET search_path = "{globex.schema}","public"' in after
    assert found is False
