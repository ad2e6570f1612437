import time

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from platform_core.tasks import tenant_ping_task
from tenants.models import Tenant
from tenants.selectors import tenant_get_by_slug


class Command(BaseCommand):
    help = "Send a tenant ping through every queue and report which workers answered, and how fast."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug the pings run as")
        parser.add_argument("--timeout", type=float, default=10.0)
        parser.add_argument("--queue", action="append", help="only these queues (repeatable)")

    def handle(self, *args, **options):
        try:
            tenant = tenant_get_by_slug(slug=options["tenant"])
        except Tenant.DoesNotExist as exc:
            raise CommandError(f"no tenant '{options['tenant']}'") from exc
        queues = options["queue"] or list(settings.CELERY_QUEUE_NAMES)
        failed = []
        with schema_context(tenant.schema_name):
            sent = {
                queue: (time.perf_counter(), tenant_ping_task.apply_async(queue=queue))
                for queue in queues
            }
        for queue, (started, result) in sent.items():
            try:
                answer = result.get(timeout=options["timeout"])
            except CeleryTimeout:
                failed.append(queue)
                self.stdout.write(f"{queue:<10} no answer within {options['timeout']}s")
                continue
            elapsed = (time.perf_counter() - started) * 1000
            self.stdout.write(f"{queue:<10} ok  schema={answer['schema']}  {elapsed:.0f} ms")
        if failed:
            raise CommandError(f"no worker answered on: {', '.join(failed)}")
