"""The one interface every provider connector implements.

Rendering happens before a connector is called: it receives a channel-neutral
`RenderedMessage` and a `Recipient`, and either returns a `SendResult` or raises
`TransientError` (retried with backoff) or `PermanentError` (dead-lettered at once).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from connectors.channels import Channel


@dataclass(frozen=True)
class RenderedMessage:
    """What a template produced for one recipient."""

    subject: str = ""
    body: str = ""  # plain text (sms, push, chat) or HTML (email)
    text_body: str = ""  # email: the plain-text alternative
    cta_url: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # payload passed along (push data, chat)


@dataclass(frozen=True)
class Recipient:
    subscriber_id: str
    email: str | None = None
    phone: str | None = None
    locale: str = ""
    # The subscriber's credentials for this connector's provider (device tokens, webhook URL).
    credentials: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str = ""
    response_code: int | None = None


class ConnectorError(Exception):
    def __init__(self, message: str, *, response_code: int | None = None):
        super().__init__(message)
        self.response_code = response_code


class TransientError(ConnectorError):
    """Worth retrying: network error, timeout, 5xx, 429, SMTP 4xx."""

    def __init__(
        self, message: str, *, response_code: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message, response_code=response_code)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Not worth retrying: other 4xx, invalid address, bad configuration."""


class ConfigError(ValueError):
    """An integration's settings or credentials are invalid; `fields` names the culprits."""

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))
        self.fields = fields


class Connector:
    """Base class. Subclasses set `key` and `channel`, declare a frozen dataclass of their
    settings and credentials, and implement `validate_config` (which builds it) and `send`.

    A connector is built from an integration's `settings` and decrypted `credentials`:
    `validate_config` checks them and returns the typed settings the instance keeps as
    `self.config`, so a misconfigured integration fails when it is built, never half-way
    through a batch. `session()` wraps a batch of sends, so connectors that can reuse a
    connection (SMTP, an HTTP keep-alive pool) open it once per batch.

    A connector may stand for a family of providers (`anymail:<esp>`): it sets
    `requires_variant` and implements `variant()` and `variants()`; the registry resolves
    any `<key>:<variant>` provider string through them.
    """

    key: ClassVar[str]
    channel: ClassVar[Channel]
    # Which key of the subscriber's `credentials` this connector reads (e.g. "fcm").
    credentials_key: ClassVar[str | None] = None
    # True when only `<key>:<variant>` names a usable provider, never the bare key.
    requires_variant: ClassVar[bool] = False

    config: Any

    def __init__(self, settings: dict[str, Any], credentials: dict[str, Any]):
        self.config = self._configure(dict(settings or {}), dict(credentials or {}))

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> Any:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
        return None

    @classmethod
    def variant(cls, name: str) -> type[Connector]:
        """The connector class for `<key>:<name>`; ValueError when there is no such variant."""
        raise ValueError(f"{cls.key!r} has no variants")

    @classmethod
    def variants(cls) -> tuple[str, ...]:
        """The names `variant()` accepts, for listing every provider string."""
        return ()

    def _configure(self, settings: dict[str, Any], credentials: dict[str, Any]) -> Any:
        return self.validate_config(settings, credentials)

    @contextmanager
    def session(self) -> Iterator[Connector]:
        """Wrap a batch of sends; the base class holds nothing open."""
        yield self

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Deliver one message; raise TransientError or PermanentError when it fails."""
        raise NotImplementedError


def raise_for(errors: dict[str, list[str]]) -> None:
    """Raise ConfigError when `validate_config` collected any field errors."""
    if errors:
        raise ConfigError(errors)


# --- helpers shared by the connector modules -------------------------------------------------

REQUIRED = "This field is required."
NOT_A_URL = "Enter an http(s) URL."


def provider_timeout() -> tuple[float, float]:
    """The (connect, read) timeout in seconds for every provider call, from Django settings."""
    from django.conf import settings

    return (
        float(settings.PROVIDER_CONNECT_TIMEOUT_SECONDS),
        float(settings.PROVIDER_TIMEOUT_SECONDS),
    )


_EMAIL_RE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_RE = re.compile(r"\+?\d[\d ().-]{5,}\d")


def redact(text: Any, limit: int = 200) -> str:
    """Provider text made safe for logs and errors: no email addresses or phone numbers."""
    text = _EMAIL_RE.sub("[email]", str(text))
    text = _PHONE_RE.sub("[number]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_http_url(value: Any) -> bool:
    """True for an absolute http(s) URL with a host."""
    if not isinstance(value, str) or not value:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def url_setting_errors(settings: dict[str, Any], *names: str) -> dict[str, list[str]]:
    """ConfigError fields for the optional URL settings that are set but not http(s) URLs."""
    return {
        f"settings.{name}": [NOT_A_URL]
        for name in names
        if settings.get(name) not in (None, "") and not is_http_url(settings[name])
    }


def destination_error(url: str) -> str | None:
    """Why a provider call to `url` is refused, or None.

    URLs come from tenants (integration settings, subscribers' webhook URLs and push
    endpoints); a worker must not be steered at the platform's own network (cloud metadata,
    databases, admin ports). Hosts that resolve to any non-public address are refused unless
    CLARION_ALLOW_PRIVATE_DESTINATIONS is set (development, tests, private relays).
    """
    from django.conf import settings

    if settings.CLARION_ALLOW_PRIVATE_DESTINATIONS:
        return None
    host = urlsplit(url).hostname
    if not host:
        return "the URL has no host"
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return None  # the request itself fails, as a network error
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            return "the destination is not a public address"
    return None


def ensure_public_destination(url: str, *, what: str) -> None:
    """Raise PermanentError when a provider call to `url` is refused (see destination_error)."""
    reason = destination_error(url)
    if reason:
        raise PermanentError(f"{what}: {reason}")
