from pathlib import Path

from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from notifications.management.config_documents import document_dump, tenant_or_error
from notifications.services.config.exchange import config_export


class Command(BaseCommand):
    help = (
        "Write a tenant's configuration — templates (with variants), workflows (with steps), "
        "routes and throttles; not integrations — as one YAML document."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")

    def handle(self, *args, **options):
        tenant = tenant_or_error(options["tenant"])
        with schema_context(tenant.schema_name):
            text = document_dump(config_export())
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote the configuration of {tenant.slug} to {options['output']}")
        else:
            self.stdout.write(text, ending="")
