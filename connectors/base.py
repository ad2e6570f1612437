"""The one interface every provider connector implements.

Rendering happens before a connector is called: it receives a channel-neutral
`RenderedMessage` and a `Recipient`, and either returns a `SendResult` or raises
`TransientError` (retried with backoff) or `PermanentError` (dead-lettered at once).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar


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
