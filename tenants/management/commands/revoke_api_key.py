from django.core.management.base import BaseCommand, CommandError

from tenants.models import ApiKey, Tenant
from tenants.selectors import tenant_get_by_slug
from tenants.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke a tenant's API key by its prefix (the part before the dot)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("prefix", help="e.g. ck_3k9x2m1a")

    def handle(self, *args, **options):
        try:
            tenant = tenant_get_by_slug(slug=options["slug"])
        except Tenant.DoesNotExist as exc:
            raise CommandError(f"no tenant '{options['slug']}'") from exc
        prefix = options["prefix"].split(".", 1)[0]
        try:
            key = api_key_revoke(tenant=tenant, prefix=prefix)
        except ApiKey.DoesNotExist as exc:
            raise CommandError(f"tenant {tenant.slug} has no key {prefix}") from exc
        self.stdout.write(f"Revoked {key.prefix} ({key.name}) of {tenant.slug}")
