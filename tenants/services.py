"""Tenant and API-key writes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants import cache
from tenants.models import RESERVED_SLUGS, SLUG_RE, ApiKey, Domain, Tenant

KEY_PREFIX_LEN = 8
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# last_used_at is written at most this often per key, to keep writes off the hot path.
LAST_USED_RESOLUTION = timedelta(seconds=60)
_HOST_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(raw: str) -> tuple[str, str] | None:
    """`ck_abcd1234.<secret>` → (prefix, secret), or None when it is not of that shape."""
    prefix, sep, secret = raw.strip().partition(".")
    if not sep or not prefix.startswith("ck_") or len(prefix) != KEY_PREFIX_LEN + 3 or not secret:
        return None
    return prefix, secret


def tenant_validate(*, slug: str, domain: str) -> None:
    """Raise ValidationError (by field) unless a tenant with this slug and domain can be made."""
    errors: dict[str, list[str]] = {}
    if not re.match(SLUG_RE, slug) or len(slug) > 40:
        errors["slug"] = [
            "Use lowercase letters, digits and single dashes, starting with a letter."
        ]
    elif slug in RESERVED_SLUGS or slug.startswith("pg"):
        errors["slug"] = [f"'{slug}' is reserved."]
    elif Tenant.objects.filter(slug=slug).exists():
        errors["slug"] = [f"A tenant '{slug}' exists already."]
    if not _HOST_RE.match(domain):
        errors["domain"] = [f"'{domain}' is not a valid host name."]
    elif domain in settings.CLARION_PUBLIC_HOSTS or Domain.objects.filter(domain=domain).exists():
        errors["domain"] = [f"The host '{domain}' is taken."]
    if errors:
        raise ValidationError(errors)


def tenant_default_domain(*, slug: str) -> str:
    return f"{slug}.{settings.CLARION_TENANT_DOMAIN_SUFFIX}"


def tenant_create(
    *,
    slug: str,
    name: str | None = None,
    domain: str | None = None,
    admin_email: str | None = None,
    admin_password: str | None = None,
) -> tuple[Tenant, str]:
    """Create a tenant: its schema (migrated), its domain, an optional admin, and an API key.

    Returns the tenant and the key's secret, which is not stored and cannot be shown again.
    """
    domain = (domain or tenant_default_domain(slug=slug)).lower()
    tenant_validate(slug=slug, domain=domain)
    # Creating the schema runs DDL and migrations outside this function's control; on any
    # later failure the tenant and its schema are removed so nothing half-made remains.
    tenant = Tenant(schema_name=slug.replace("-", "_"), slug=slug, name=name or slug)
    tenant.save(verbosity=0)
    try:
        with transaction.atomic():
            Domain.objects.create(domain=domain, tenant=tenant, is_primary=True)
            if admin_email:
                tenant_admin_create(tenant=tenant, email=admin_email, password=admin_password)
            _, secret = api_key_create(tenant=tenant, name="default")
    except BaseException:
        tenant.delete(force_drop=True)
        raise
    return tenant, secret


def tenant_admin_create(*, tenant: Tenant, email: str, password: str | None):
    """Create (or reset) a superuser in the tenant's own schema; username is the email."""
    user_model = get_user_model()
    with schema_context(tenant.schema_name):
        user, _ = user_model.objects.get_or_create(username=email, defaults={"email": email})
        user.email = email
        user.is_staff = user.is_superuser = user.is_active = True
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    return user


def api_key_from_header(header: str | None) -> str | None:
    """The secret of an `Authorization` value `ApiKey <secret>` (HTTP header, gRPC metadata)."""
    keyword, _, value = (header or "").partition(" ")
    if keyword.lower() != "apikey" or not value.strip():
        return None
    return value.strip()


def api_key_from_request(request) -> str | None:
    """The secret after `Authorization: ApiKey `, or None."""
    return api_key_from_header(request.headers.get("Authorization"))


def api_key_create(*, tenant: Tenant, name: str = "default") -> tuple[ApiKey, str]:
    """Create a key; the returned full key `<prefix>.<secret>` is shown once and never stored."""
    prefix = "ck_" + "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(KEY_PREFIX_LEN))
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        tenant=tenant, name=name, prefix=prefix, secret_hash=hash_secret(secret)
    )
    return key, f"{prefix}.{secret}"


def api_key_revoke(*, tenant: Tenant, prefix: str) -> ApiKey:
    """Revoke a key by its prefix; raises ApiKey.DoesNotExist for another tenant's key."""
    key = ApiKey.objects.get(tenant=tenant, prefix=prefix)
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    cache.forget("api_key", prefix)
    key.refresh_from_db()
    return key


def api_keys_revoke(*, keys) -> int:
    """Revoke the active keys among `keys` (a queryset); how many were revoked."""
    prefixes = list(keys.filter(revoked_at__isnull=True).values_list("prefix", flat=True))
    count = ApiKey.objects.filter(prefix__in=prefixes, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    for prefix in prefixes:
        cache.forget("api_key", prefix)
    return count


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The active key (with its tenant) that `raw` is, or None; constant-time comparison."""
    parts = split_key(raw)
    if parts is None:
        return None
    prefix, secret = parts
    key = cache.cached(
        "api_key",
        prefix,
        lambda: (
            ApiKey.objects.select_related("tenant")
            .filter(prefix=prefix, revoked_at__isnull=True, tenant__is_active=True)
            .first()
        ),
    )
    if key is None:
        # Compare anyway so that unknown prefixes cost the same as wrong secrets.
        hmac.compare_digest(hash_secret(secret), "0" * 64)
        return None
    if not hmac.compare_digest(hash_secret(secret), key.secret_hash):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
