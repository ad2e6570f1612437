"""Platform tasks."""

from django.db import connection

from platform_core.celery import app
from platform_core.observability import request_id_var


@app.task(name="platform.tenant_ping", ignore_result=False, acks_late=False)
def tenant_ping_task() -> dict:
    """Answers with the schema and correlation id it ran under: proves a worker is tenant-aware."""
    return {"schema": connection.schema_name, "request_id": request_id_var.get()}
