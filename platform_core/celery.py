"""The Celery app. Tenant-aware: every task carries the schema it was sent from."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")

app = CeleryApp("clarion", task_cls="platform_core.taskbase:ClarionTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
