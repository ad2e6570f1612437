import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from notifications.demo import demo_seed
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_create, tenant_admin_create, tenant_create

DEMO_SLUG = "demo"
DEMO_HOST = "demo.localhost"
KEY_NAME = "make-demo"


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant, the admin logins and a fresh API key; print them."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "clarion-demo")
        email = os.environ.get("DEMO_ADMIN_EMAIL", "admin@demo.localhost")

        with schema_context(get_public_schema_name()):
            user_model = get_user_model()
            admin, _ = user_model.objects.get_or_create(username="admin", defaults={"email": email})
            admin.is_staff = admin.is_superuser = admin.is_active = True
            admin.set_password(password)
            admin.save()

        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant, secret = tenant_create(slug=DEMO_SLUG, name="Demo", domain=DEMO_HOST)
        else:
            # A fresh key each run; the previous run's key is revoked.
            ApiKey.objects.filter(tenant=tenant, name=KEY_NAME, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
            _, secret = api_key_create(tenant=tenant, name=KEY_NAME)
        tenant_admin_create(tenant=tenant, email=email, password=password)
        with schema_context(tenant.schema_name):
            demo_seed(
                smtp_host="127.0.0.1", smtp_port=int(os.environ.get("DEMO_SMTP_PORT", "1025"))
            )

        mailbox = os.environ.get("DEMO_MAILBOX", ".data/mailbox")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "  Clarion is running",
                    "  ------------------",
                    f"  Platform admin  http://localhost:{{PORT}}/admin/  admin / {password}",
                    f"  Tenant admin    http://{DEMO_HOST}:{{PORT}}/admin/  {email} / {password}",
                    f"  API docs        http://{DEMO_HOST}:{{PORT}}/api/docs/",
                    "  Health          http://localhost:{PORT}/healthz  /readyz  /metrics",
                    "  gRPC            127.0.0.1:{GRPC_PORT}  clarion.v1.Events (reflection on)",
                    f"  API key (demo)  {secret}",
                    "",
                    f"  Mail sink       emails land in {mailbox}",
                    "",
                    "  Try it:",
                    f"  curl -X POST http://{DEMO_HOST}:{{PORT}}/api/v1/events/trigger \\",
                    f"       -H 'Authorization: ApiKey {secret}' \\",
                    "       -H 'Content-Type: application/json' \\",
                    '       -d \'{"event": "order.shipped", "to": [{"topic": "customers"}], '
                    '"payload": {"order_id": "A-1"}}\'',
                    f"  curl -H 'Authorization: ApiKey {secret}' "
                    f"http://{DEMO_HOST}:{{PORT}}/api/v1/inbox/ada/messages",
                    "",
                ]
            )
        )
