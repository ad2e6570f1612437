"""The sweeper and tenants still being created: their row exists, their schema's tables not yet.

`tenant_create` commits the tenant's row, then creates and migrates its schema; a sweep that
runs in between skips that tenant quietly (an info line, no traceback) and sweeps the others.
"""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from notifications.tasks import deliveries_sweep_task
from tenants.models import Tenant


def _half_made(slug: str, *, schema: bool) -> Tenant:
    tenant = Tenant(schema_name=slug.replace("-", "_"), slug=slug, name=slug)
    tenant.auto_create_schema = False
    tenant.save()
    if schema:  # the schema exists, its migrations have not run yet
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{tenant.schema_name}"')
    return tenant


@pytest.mark.parametrize("schema", [False, True], ids=["no-schema", "empty-schema"])
def test_a_tenant_being_created_is_skipped_quietly(acme, globex, caplog, schema):
    # given: a tenant whose row is committed but whose schema is not migrated
    _half_made("halfmade", schema=schema)
    caplog.set_level(logging.INFO, logger="notifications.tasks")

    # when
    totals = deliveries_sweep_task.run()

    # then: the other tenants are swept, this one is skipped with an info line, no traceback
    assert totals["tenants"] >= 2
    records = [r for r in caplog.records if r.name == "notifications.tasks"]
    assert not [r for r in records if r.levelno >= logging.WARNING or r.exc_info]
    skipped = [r for r in records if getattr(r, "tenant", None) == "halfmade"]
    assert len(skipped) == 1 and skipped[0].levelno == logging.INFO
    assert "not migrated" in skipped[0].getMessage()
    assert connection.schema_name == "public"
