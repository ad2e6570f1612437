import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from notifications.management.config_documents import document_load, tenant_or_error
from notifications.services.config.exchange import config_import
from platform_core.audit import audit_context
from platform_core.errors import ApplicationError

ACTOR = "cli:import_config"


class Command(BaseCommand):
    help = (
        "Apply a configuration document (export_config's YAML, or JSON) to a tenant through the "
        "API's services, in one transaction: items are created or replaced, none deleted. "
        "--dry-run shows the diff and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("file", help="the document; - reads stdin")
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would change; change nothing"
        )

    def handle(self, *args, **options):
        tenant = tenant_or_error(options["tenant"])
        path = options["file"]
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        document = document_load(text)
        dry_run = options["dry_run"]
        try:
            with schema_context(tenant.schema_name), audit_context(ACTOR):
                result = config_import(document=document, dry_run=dry_run)
        except ApplicationError as exc:
            details = "".join(
                f"\n  {name}: {' '.join(messages)}"
                for name, messages in sorted((exc.fields or {}).items())
            )
            raise CommandError(f"nothing was changed: {exc.message}{details}") from None
        for line in result.diff:
            self.stdout.write(line)
        counts = (
            f"{result.created} to create, {result.changed} to change, {result.unchanged} unchanged"
        )
        if dry_run:
            self.stdout.write(f"Dry run for {tenant.slug}: {counts}; nothing was changed.")
        else:
            done = counts.replace(" to create", " created").replace(" to change", " changed")
            self.stdout.write(f"Imported into {tenant.slug}: {done}.")
