from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from tenants.selectors import tenant_get_by_slug
from tenants.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a tenant and print it once."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="default", help="a label for the key, e.g. ci")

    def handle(self, *args, **options):
        try:
            tenant = tenant_get_by_slug(slug=options["slug"])
        except Tenant.DoesNotExist as exc:
            raise CommandError(f"no tenant '{options['slug']}'") from exc
        key, secret = api_key_create(tenant=tenant, name=options["name"])
        self.stderr.write(f"Created key {key.prefix} ({key.name}) for {tenant.slug}")
        self.stdout.write(f"API_KEY={secret}")
