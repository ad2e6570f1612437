"""Public-schema models: tenants, their domains and their API keys."""

from __future__ import annotations

import secrets
import zoneinfo
from urllib.parse import urlsplit

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from tenants.ratelimits import limits_parse

SLUG_RE = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
RESERVED_SLUGS = frozenset({"public", "www", "api", "admin", "static", "clarion", "information"})


def new_inbox_secret() -> str:
    return secrets.token_urlsafe(32)


def normalize_origin(value: str) -> str:
    """A web origin as browsers send it: `https://app.acme.example[:port]`, lower case."""
    return value.strip().rstrip("/").lower()


def validate_origin(value: str) -> None:
    """An origin is a scheme (http or https), a host and an optional port: nothing else."""
    message = "Enter an origin such as https://app.acme.example (scheme, host, optional port)."
    try:
        parts = urlsplit(normalize_origin(value))
        port = parts.port
    except ValueError:
        raise ValidationError(message, code="invalid_origin") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or "*" in value
        or (port is not None and not 0 < port < 65536)
    ):
        raise ValidationError(message, code="invalid_origin")


def validate_timezone_name(value: str) -> None:
    """An IANA time zone name (`Europe/Paris`), as zoneinfo knows it."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "Enter an IANA time zone name such as 'Europe/Paris'.", code="invalid_timezone"
        ) from None


def validate_rate_limits(value: str) -> None:
    """API rate limit overrides as `limits_parse` reads them."""
    try:
        limits_parse(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_rate_limits") from None


class Tenant(TenantMixin):
    """A customer of the platform, with its own PostgreSQL schema."""

    slug = models.SlugField(
        max_length=40,
        unique=True,
        validators=[RegexValidator(SLUG_RE, "Lowercase letters, digits and single dashes.")],
    )
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    # Signs `X-Subscriber-Hash` for the in-app inbox of the tenant's own front ends.
    inbox_secret = models.CharField(max_length=64, default=new_inbox_secret, editable=False)
    # Web origins whose pages may call the inbox endpoints from a browser (CORS).
    cors_allowed_origins = ArrayField(
        models.CharField(max_length=255, validators=[validate_origin]),
        default=list,
        blank=True,
        verbose_name="inbox CORS origins",
        help_text=(
            "Origins (e.g. https://app.acme.example) whose pages may call the inbox API "
            "from a browser; comma-separated."
        ),
    )
    # Overrides of API_RATE_LIMITS for this tenant: `events=600/60,read=off`.
    api_rate_limits = models.CharField(
        "API rate limits",
        max_length=500,
        blank=True,
        default="",
        validators=[validate_rate_limits],
        help_text="Overrides of the platform's API_RATE_LIMITS for this tenant, per API key: "
        "category=requests/seconds, comma-separated, e.g. <code>events=600/60,read=off</code>. "
        "Categories: events, config, read, inbox. Empty: the platform's defaults.",
    )
    # The tenant admin shows times in this zone (stored and served by the API in UTC).
    timezone = models.CharField(
        "time zone",
        max_length=64,
        default="UTC",
        validators=[validate_timezone_name],
        help_text="IANA name, e.g. Europe/Paris: the tenant admin shows times in it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_public(self) -> bool:
        from django_tenants.utils import get_public_schema_name

        return self.schema_name == get_public_schema_name()


class Domain(DomainMixin):
    """A host name served as a tenant (`acme.clarion.example`)."""

    class Meta:
        ordering = ["domain"]


class ApiKey(models.Model):
    """A tenant's API key: `<prefix>.<secret>`, stored as prefix + SHA-256 of the secret.

    The secret is 256 bits of randomness, so a fast hash is the right choice (nothing to
    brute-force); comparison is constant-time.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
