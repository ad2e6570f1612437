import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from notifications.demo import demo_seed
from platform_core import embedded
from tenants.models import ApiKey, Tenant
from tenants.services import (
    api_key_authenticate,
    api_key_create,
    tenant_admin_create,
    tenant_create,
)

DEMO_SLUG = "demo"
DEMO_HOST = "demo.localhost"
KEY_NAME = "make-demo"


def _key_file() -> Path:
    # Beside the embedded servers' data: `make clean-data` forgets it along with them.
    return embedded.data_dir() / "demo-api-key"


def demo_api_key(tenant: Tenant) -> str:
    """The demo's API key: the one of the last start while it is valid, else a new one.

    Keys are stored hashed, so the secret is kept in the data folder (mode 0600) to be shown
    again; a missing, revoked or foreign one is replaced and every older demo key revoked.
    """
    path = _key_file()
    if path.exists():
        secret = path.read_text().strip()
        key = api_key_authenticate(raw=secret)
        if key is not None and key.tenant_id == tenant.pk and key.name == KEY_NAME:
            return secret
    ApiKey.objects.filter(tenant=tenant, name=KEY_NAME, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    _, secret = api_key_create(tenant=tenant, name=KEY_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret


class Command(BaseCommand):
    help = (
        "Create (or restore) the demo tenant, its sample configuration and the admin logins; "
        "print them with the demo API key (the same one at every start)."
    )

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
            tenant, _ = tenant_create(slug=DEMO_SLUG, name="Demo", domain=DEMO_HOST)
            # tenant_create's own key is not kept: the demo's key has a name of its own.
            ApiKey.objects.filter(tenant=tenant).update(revoked_at=timezone.now())
        secret = demo_api_key(tenant)
        tenant_admin_create(tenant=tenant, email=email, password=password)
        with schema_context(tenant.schema_name):
            demo_seed(
                smtp_host="127.0.0.1", smtp_port=int(os.environ.get("DEMO_SMTP_PORT", "1025"))
            )

        mailbox = os.environ.get("DEMO_MAILBOX", ".data/mailbox")
        trigger = (
            '\'{"event": "order.shipped", "to": [{"topic": "customers"}], '
            '"payload": {"order_id": "A-1"}}\''
        )
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
                    f"  Inbox widget    http://{DEMO_HOST}:{{PORT}}/demo/inbox/  (Ada, live)",
                    f"  Inbox stream    http://{DEMO_HOST}:{{STREAM_PORT}}/api/v1/inbox/<id>/stream",
                    f"  API key (demo)  {secret}  (the same at every start)",
                    "",
                    f"  Mail sink       emails land in {mailbox}/new/",
                    "",
                    "  Try it:",
                    f"  export CLARION_KEY={secret}",
                    f"  curl -X POST http://{DEMO_HOST}:{{PORT}}/api/v1/events/trigger \\",
                    '       -H "Authorization: ApiKey $CLARION_KEY" \\',
                    "       -H 'Content-Type: application/json' \\",
                    f"       -d {trigger}",
                    '  curl -H "Authorization: ApiKey $CLARION_KEY" '
                    f"http://{DEMO_HOST}:{{PORT}}/api/v1/inbox/ada/messages",
                    "  The in-app message shows at once; the email follows a minute later if it is",
                    f"  still unread, in {mailbox}/new/.",
                    "",
                ]
            )
        )
