"""Pipeline tasks: each takes ids, loads rows, calls one service."""

from __future__ import annotations

import logging

from django.db import connection
from django_tenants.utils import schema_context

from notifications.services.fanout import notification_process
from notifications.services.sending import deliveries_send
from notifications.services.sweeper import tenant_sweep
from platform_core.celery import app
from tenants.selectors import tenant_list_active

logger = logging.getLogger(__name__)


@app.task(name="notifications.notification_process", time_limit=900, soft_time_limit=840)
def notification_process_task(notification_id: str, cursor: dict | None = None) -> dict:
    """Fan an accepted notification out into deliveries."""
    return notification_process(notification_id=notification_id, cursor=cursor)


@app.task(name="notifications.deliveries_send")
def deliveries_send_task(delivery_ids: list[int], channel: str) -> dict:
    """Send one batch of deliveries of one channel."""
    return deliveries_send(delivery_ids=delivery_ids, channel=channel)


@app.task(
    name="notifications.deliveries_sweep",
    tenant_required=False,
    time_limit=120,
    soft_time_limit=100,
)
def deliveries_sweep_task() -> dict:
    """Sweep every active tenant's schema for due, lost or stuck work (runs in public)."""
    totals: dict[str, int] = {"tenants": 0}
    for tenant in tenant_list_active().only("schema_name"):
        try:
            with schema_context(tenant.schema_name):
                counts = tenant_sweep()
        except Exception:  # noqa: BLE001 - one tenant's failure must not stop the others
            logger.exception("sweep failed", extra={"tenant": tenant.schema_name})
            continue
        totals["tenants"] += 1
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    connection.set_schema_to_public()
    return totals
