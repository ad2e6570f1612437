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
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests


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
    """Base class. Subclasses set `key` and `channel` and implement `send`.

    A connector is built from an integration's `settings` and decrypted `credentials`.
    `session()` wraps a batch of sends, so connectors that can reuse a connection (SMTP)
    open it once per batch.
    """

    key: ClassVar[str]
    channel: ClassVar[str]
    # Which key of the subscriber's `credentials` this connector reads (e.g. "fcm").
    credentials_key: ClassVar[str | None] = None

    def __init__(self, settings: dict[str, Any], credentials: dict[str, Any]):
        self.settings = settings
        self.credentials = credentials

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Raise ConfigError naming every invalid setting or credential."""

    @contextmanager
    def session(self) -> Iterator[Connector]:
        yield self

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        raise NotImplementedError


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


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


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
    reason = destination_error(url)
    if reason:
        raise PermanentError(f"{what}: {reason}")


class HttpConnector(Connector):
    """A connector that speaks HTTP through `requests`, with explicit timeouts everywhere.

    `session()` keeps one `requests.Session` (a keep-alive connection pool) for the batch.
    """

    _http: requests.Session | None = None

    @contextmanager
    def session(self) -> Iterator[Connector]:
        """Reuse one pooled HTTP session (keep-alive connections) for the whole batch."""
        self._http = requests.Session()
        try:
            yield self
        finally:
            self._http.close()
            self._http = None

    def _post(self, url: str, *, what: str, **kwargs: Any) -> requests.Response:
        """POST with the provider timeouts; a network failure raises TransientError.

        NOTE: messages never include the URL: webhook URLs (Slack's in particular) are secrets.
        """
        ensure_public_destination(url, what=what)
        kwargs.setdefault("timeout", provider_timeout())
        # A redirected POST is not a delivery; a 3xx is reported instead.
        kwargs.setdefault("allow_redirects", False)
        http = self._http
        try:
            if http is None:
                with requests.Session() as one_off:
                    return one_off.post(url, **kwargs)
            return http.post(url, **kwargs)
        except requests.Timeout:
            raise TransientError(f"{what}: timed out") from None
        except requests.ConnectionError:
            raise TransientError(f"{what}: connection failed") from None
        except requests.RequestException as exc:  # invalid URL, schema, headers...
            raise PermanentError(f"{what}: {type(exc).__name__}") from None


def is_transient_status(status: int) -> bool:
    """408 (request timeout), 429 (too many requests) and 5xx are worth retrying."""
    return status in (408, 429) or status >= 500


def status_error(status: int, text: str, retry_after: str | None = None) -> ConnectorError:
    """The error for a provider's non-success HTTP status; `retry_after` is the raw header."""
    if is_transient_status(status):
        return TransientError(
            text, response_code=status, retry_after=retry_after_seconds(retry_after)
        )
    return PermanentError(text, response_code=status)


def http_error(response: requests.Response, what: str, detail: str = "") -> ConnectorError:
    """Classify a non-2xx HTTP response: 408, 429 and 5xx are transient, the rest permanent."""
    status = response.status_code
    text = f"{what}: HTTP {status}" + (f" {redact(detail)}" if detail else "")
    if 300 <= status < 400:
        text += " (redirects are not followed)"
    return status_error(status, text, response.headers.get("Retry-After"))


def json_object(response: Any) -> dict[str, Any]:
    """A provider response's JSON body when it is an object, else {} (no body, not JSON, a list)."""
    try:
        body = response.json()
    except (AttributeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}
