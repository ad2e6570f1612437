from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (schema, domain, optional admin user) and print its first API key."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="lowercase letters, digits and dashes, e.g. acme")
        parser.add_argument("--domain", help="host served as this tenant (default <slug>.<suffix>)")
        parser.add_argument("--name", help="display name (default: the slug)")
        parser.add_argument("--admin-email", help="create a tenant admin user with this email")
        parser.add_argument("--admin-password", help="password of that admin user")

    def handle(self, *args, **options):
        if options["admin_password"] and not options["admin_email"]:
            raise CommandError("--admin-password needs --admin-email")
        try:
            tenant, secret = tenant_create(
                slug=options["slug"],
                name=options["name"],
                domain=options["domain"],
                admin_email=options["admin_email"],
                admin_password=options["admin_password"],
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            ) from exc
        domain = tenant.domains.get(is_primary=True).domain
        self.stderr.write(f"Created tenant {tenant.slug} on {domain}")
        self.stdout.write(f"API_KEY={secret}")
