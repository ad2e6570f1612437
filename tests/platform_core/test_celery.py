"""Tasks carry their tenant and correlation id through a real worker process."""

import celery
import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from platform_core.observability import request_id_var
from platform_core.tasks import tenant_ping_task

pytestmark = pytest.mark.worker


@pytest.mark.parametrize("queue", ["critical", "high", "normal", "low", "system"])
def test_task_runs_in_its_tenants_schema_on_every_queue(
    request, celery_worker, test_tenants, queue
):
    if queue == "low":
        request.getfixturevalue("low_worker")
    acme = test_tenants["acme"]
    token = request_id_var.set(f"req-{queue}")
    try:
        with schema_context(acme.schema):
            result = tenant_ping_task.apply_async(queue=queue)
    finally:
        request_id_var.reset(token)

    answer = result.get(timeout=30)

    assert answer == {"schema": acme.schema, "request_id": f"req-{queue}"}


def test_tasks_of_two_tenants_keep_their_own_schema(celery_worker, test_tenants):
    results = {}
    for slug in ("acme", "globex", "acme", "globex"):
        with schema_context(test_tenants[slug].schema):
            results.setdefault(slug, []).append(tenant_ping_task.apply_async(queue="normal"))

    for slug, sent in results.items():
        assert {r.get(timeout=30)["schema"] for r in sent} == {slug}


def test_task_sent_from_public_schema_is_refused(celery_worker):
    result = tenant_ping_task.apply_async(queue="normal")

    with pytest.raises(Exception) as excinfo:
        result.get(timeout=30)

    assert type(excinfo.value).__name__ == "TenantMissing"
    assert result.state == "FAILURE"


def test_task_without_tenant_header_is_refused(celery_worker):
    # A plain Celery client (no tenant-schemas-celery) sends no `_schema_name` header at all.
    plain = celery.Celery(broker=settings.CELERY_BROKER_URL, backend=settings.CELERY_RESULT_BACKEND)
    plain.conf.task_serializer = "json"

    result = plain.send_task("platform.tenant_ping", queue="normal")

    with pytest.raises(Exception) as excinfo:
        result.get(timeout=30)
    assert type(excinfo.value).__name__ == "TenantMissing"
