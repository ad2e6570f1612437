"""API keys: shown once, stored hashed, looked up by prefix, revocable; and the CLI."""

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from tenants.models import ApiKey, Tenant
from tenants.services import api_key_authenticate, api_key_create, api_key_revoke
from tests.conftest import ApiClient, admin_login


def test_key_is_stored_as_prefix_and_hash_only(acme):
    key, secret = api_key_create(tenant=acme.tenant, name="ci")
    prefix, raw_secret = secret.split(".")

    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.prefix == prefix
    assert stored.secret_hash == hashlib.sha256(raw_secret.encode()).hexdigest()
    assert raw_secret not in {stored.prefix, stored.secret_hash, stored.name}


def test_authenticate_returns_key_and_records_last_use(acme):
    key, secret = api_key_create(tenant=acme.tenant)
    assert key.last_used_at is None

    found = api_key_authenticate(raw=secret)

    assert found.pk == key.pk
    assert found.tenant == acme.tenant
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_revoked_key_no_longer_authenticates(acme):
    key, secret = api_key_create(tenant=acme.tenant)

    api_key_revoke(tenant=acme.tenant, prefix=key.prefix)

    assert api_key_authenticate(raw=secret) is None
    response = ApiClient(acme.host, secret).get("/api/v1/tenant")
    assert response.status_code == 401


def test_a_tenant_cannot_revoke_another_tenants_key(acme, globex):
    key, _ = api_key_create(tenant=acme.tenant)

    with pytest.raises(ApiKey.DoesNotExist):
        api_key_revoke(tenant=globex.tenant, prefix=key.prefix)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_create_api_key_command_prints_one_working_key(acme):
    out = io.StringIO()

    call_command("create_api_key", "acme", "--name", "ci", stdout=out, stderr=io.StringIO())

    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("API_KEY=")
    secret = lines[0].removeprefix("API_KEY=")
    assert ApiClient(acme.host, secret).get("/api/v1/tenant").json()["slug"] == "acme"


def test_revoke_api_key_command(acme):
    key, secret = api_key_create(tenant=acme.tenant, name="old")

    call_command("revoke_api_key", "acme", key.prefix, stdout=io.StringIO())

    assert ApiKey.objects.get(pk=key.pk).revoked_at <= timezone.now()
    assert ApiClient(acme.host, secret).get("/api/v1/tenant").status_code == 401


def test_revoke_api_key_command_refuses_unknown_prefix(acme):
    with pytest.raises(CommandError, match="has no key"):
        call_command("revoke_api_key", "acme", "ck_00000000", stdout=io.StringIO())


def test_create_tenant_command_makes_schema_domain_admin_and_key(test_tenants, db):
    out = io.StringIO()

    call_command(
        "create_tenant",
        "initech",
        "--domain",
        "initech.localhost",
        "--name",
        "Initech",
        "--admin-email",
        "boss@initech.test",
        "--admin-password",
        "s3cret-pass!",
        stdout=out,
        stderr=io.StringIO(),
    )

    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("API_KEY=")
    secret = lines[0].removeprefix("API_KEY=")
    tenant = Tenant.objects.get(slug="initech")
    assert tenant.name == "Initech"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'initech'")
        assert cursor.fetchone() is not None
    response = ApiClient("initech.localhost", secret).get("/api/v1/tenant")
    assert response.status_code == 200 and response.json()["slug"] == "initech"
    assert ApiClient(test_tenants["acme"].host, secret).get("/api/v1/tenant").status_code == 401
    assert admin_login("initech.localhost", "boss@initech.test", "s3cret-pass!") is not None


@pytest.mark.parametrize(
    ("slug", "domain", "message"),
    [
        ("acme", "other.localhost", "exists already"),
        ("Bad_Slug", None, "lowercase"),
        ("public", None, "reserved"),
        ("newco", "acme.localhost", "taken"),
        ("newco", "not a host", "not a valid host"),
    ],
)
def test_create_tenant_command_rejects_bad_input(test_tenants, db, slug, domain, message):
    args = ["create_tenant", slug] + (["--domain", domain] if domain else [])

    with pytest.raises(CommandError, match=message):
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not Tenant.objects.filter(slug="newco").exists()
