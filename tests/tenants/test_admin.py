"""Platform admin on the platform host; each tenant's admin on its host, with its own users."""

import re

from django.contrib.auth import get_user_model
from django.test import Client
from django_tenants.utils import schema_context

from tenants.models import ApiKey
from tenants.services import tenant_admin_create
from tests.conftest import ApiClient, admin_login


def platform_superuser(password="platform-pass-1"):
    user_model = get_user_model()
    user_model.objects.create_superuser("root", "root@platform.test", password)
    return password


def test_admin_login_pages_render_on_both_kinds_of_host(acme):
    platform = Client(HTTP_HOST="localhost").get("/admin/login/")
    tenant = Client(HTTP_HOST=acme.host).get("/admin/login/")

    assert platform.status_code == 200 and b"Clarion platform" in platform.content
    assert tenant.status_code == 200 and b"Clarion" in tenant.content


def test_tenant_admin_users_are_per_tenant(acme, globex):
    tenant_admin_create(tenant=acme.tenant, email="ops@acme.test", password="acme-pass-1")

    assert admin_login(acme.host, "ops@acme.test", "acme-pass-1") is not None
    assert admin_login(globex.host, "ops@acme.test", "acme-pass-1") is None
    assert admin_login("localhost", "ops@acme.test", "acme-pass-1") is None


def test_tenant_admin_does_not_expose_platform_models(acme):
    tenant_admin_create(tenant=acme.tenant, email="ops@acme.test", password="acme-pass-1")
    client = admin_login(acme.host, "ops@acme.test", "acme-pass-1")

    index = client.get("/admin/")

    assert index.status_code == 200
    assert b"/admin/tenants/" not in index.content
    assert client.get("/admin/tenants/apikey/").status_code == 404


def test_platform_admin_creates_a_key_and_shows_it_once(acme):
    password = platform_superuser()
    client = admin_login("localhost", "root", password)
    assert client is not None

    response = client.post(
        "/admin/tenants/apikey/add/", {"tenant": acme.tenant.pk, "name": "from-admin"}, follow=True
    )

    assert response.status_code == 200
    match = re.search(r"(ck_[a-z0-9]{8}\.[A-Za-z0-9_\-]+)", response.content.decode())
    assert match, "the new key is shown after creating it"
    secret = match.group(1)
    key = ApiKey.objects.get(name="from-admin")
    assert secret.startswith(key.prefix)
    assert ApiClient(acme.host, secret).get("/api/v1/tenant").status_code == 200
    # and never again: the change page does not contain it
    change = client.get(f"/admin/tenants/apikey/{key.pk}/change/")
    assert secret.split(".")[1] not in change.content.decode()


def test_platform_admin_lists_tenants(acme):
    password = platform_superuser()
    client = admin_login("localhost", "root", password)

    response = client.get("/admin/tenants/tenant/")

    assert response.status_code == 200
    assert b"acme" in response.content
    with schema_context(acme.schema):
        assert not get_user_model().objects.filter(username="root").exists()
