"""The one interface every provider connector implements.

Rendering happens before a connector is called: it receives a channel-neutral
`RenderedMessage` and a `Recipient`, and either returns a `SendResult` or raises
`TransientError` (retried with backoff) or `PermanentError` (dead-lettered at once).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
import types
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
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
    # Extra headers the pipeline asks for (email: List-Unsubscribe); connectors add them.
    headers: dict[str, str] = field(default_factory=dict)


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


# --- what an integration of a connector takes, for forms and docs ----------------------------

_META = "clarion"


@dataclass(frozen=True)
class ConfigField:
    """One setting or credential an integration of a connector takes.

    `name` is its key in the integration's `settings` or `credentials` (`source`); `type`
    is str, int, float, bool or dict (a JSON object); credentials are never shown back.
    """

    name: str
    source: Literal["settings", "credentials"]
    type: type
    required: bool
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    multiline: bool = False


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str = "",  # noqa: A002 - the form's word for it
    choices: tuple[str, ...] = (),
    key: str = "",
    required: bool | None = None,
    **kwargs: Any,
) -> Any:
    """A config dataclass field read from the integration's `settings[key or name]`."""
    meta = {"source": "settings", "help": help, "choices": choices, "key": key}
    if required is not None:
        meta["required"] = required
    return field(default=default, metadata={_META: meta}, **kwargs)


def credential(
    default: Any = dataclasses.MISSING,
    *,
    help: str = "",  # noqa: A002 - the form's word for it
    key: str = "",
    multiline: bool = False,
    **kwargs: Any,
) -> Any:
    """A config dataclass field read from the integration's (encrypted) `credentials`."""
    meta = {"source": "credentials", "help": help, "key": key, "multiline": multiline}
    return field(default=default, repr=False, metadata={_META: meta}, **kwargs)


def internal(**kwargs: Any) -> Any:
    """A config dataclass field the connector derives itself: no form field."""
    return field(metadata={_META: {"internal": True}}, **kwargs)


def _plain_type(hint: Any) -> tuple[type, bool]:
    """(str | int | float | bool | dict, optional) for a config field's type hint."""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else str
        origin = typing.get_origin(hint)
    if hint in (str, int, float, bool):
        return hint, optional
    if hint in (dict, Mapping) or origin in (dict, Mapping):
        return dict, optional
    return str, optional  # parsed by the connector from text (a key, a JSON document)


def config_fields_of(config_class: type) -> tuple[ConfigField, ...]:
    """The settings and credentials a typed config dataclass is built from, in its order."""
    hints = typing.get_type_hints(config_class)
    result = []
    for item in dataclasses.fields(config_class):
        meta = dict(item.metadata.get(_META, {}))
        if meta.get("internal"):
            continue
        kind, optional = _plain_type(hints[item.name])
        has_default = (
            item.default is not dataclasses.MISSING
            or item.default_factory is not dataclasses.MISSING
        )
        default = item.default if item.default is not dataclasses.MISSING else None
        required = meta.get("required", not has_default and not optional)
        result.append(
            ConfigField(
                name=meta.get("key") or item.name,
                source=meta.get("source", "settings"),
                type=kind,
                required=required,
                default=default,
                help=meta.get("help", ""),
                choices=tuple(meta.get("choices", ())),
                multiline=meta.get("multiline", False),
            )
        )
    return tuple(result)


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
    # The settings this connector connects to: URLs, and bare host names (SMTP's `host`).
    destination_urls: ClassVar[tuple[str, ...]] = ()
    destination_hosts: ClassVar[tuple[str, ...]] = ()
    # True when the provider calls back with what became of a message (`webhook_events`).
    receives_webhooks: ClassVar[bool] = False
    # The typed config dataclass `validate_config` returns; `config_fields` reads it.
    config_class: ClassVar[type | None] = None

    config: Any

    @classmethod
    def config_fields(cls) -> tuple[ConfigField, ...]:
        """The settings and credentials an integration of this connector takes."""
        return config_fields_of(cls.config_class) if cls.config_class is not None else ()

    def __init__(self, settings: dict[str, Any], credentials: dict[str, Any]):
        self.config = self._configure(dict(settings or {}), dict(credentials or {}))

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> Any:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
        return None

    @classmethod
    def destination_errors(cls, settings: dict[str, Any]) -> dict[str, list[str]]:
        """ConfigError fields for the destinations in `settings` the guard refuses.

        Resolves host names, so it runs when an integration is saved, not in
        `validate_config`; the connection itself is checked again when it is opened.
        """
        return destination_field_errors(
            settings, urls=cls.destination_urls, hosts=cls.destination_hosts
        )

    @classmethod
    def webhook_events(
        cls, request: Any, *, settings: dict[str, Any], credentials: dict[str, Any], url: str
    ) -> list[Any]:
        """The `connectors.feedback.FeedbackEvent`s of one provider callback (a Django
        request to `url`), authenticated with the integration's own secrets; raises
        `connectors.feedback.WebhookRefused` when they do not check out."""
        raise NotImplementedError(f"{cls.key!r} receives no webhooks")

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


# --- the outbound-destination guard ----------------------------------------------------------
#
# Every connection a tenant can steer (an SMTP host, an ESP's `api_url`, webhook and Slack
# URLs, push endpoints, Twilio's `base_url`, FCM's URLs) goes through this guard twice: when
# the integration or subscriber credential is saved (`destination_field_errors`: 400 naming
# the field, so nothing is ever stored that points inwards) and when the socket is opened
# (`connect_checked`: the host is resolved once, every address is checked, and the socket
# connects to a checked address, so a name re-pointed at a private address after it was
# saved, DNS rebinding, is refused too). A worker must never be steered at the platform's
# own network: cloud metadata (169.254.169.254), databases, Redis, admin ports.

NOT_PUBLIC = "the destination is not a public address"
NOT_PUBLIC_FIELD = (
    "Not allowed: this host is, or resolves to, a private, loopback or link-local address."
)


class DestinationRefused(PermanentError):
    """A tenant-steered connection to a non-public address, refused before connecting."""


def _private_allowed() -> bool:
    from django.conf import settings

    return bool(settings.CLARION_ALLOW_PRIVATE_DESTINATIONS)


def is_public_address(address: str) -> bool:
    """True for a globally routable IP address (an IPv4-mapped IPv6 one by its IPv4 part)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int | None) -> list[tuple]:
    """getaddrinfo for a TCP connection; socket.gaierror when the name does not resolve."""
    host = host.strip("[]")
    try:
        return socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except UnicodeError:
        raise socket.gaierror(socket.EAI_NONAME, "invalid host name") from None


def host_error(host: str) -> str | None:
    """Why connecting to `host` is refused, or None (also None when it does not resolve:
    that connection fails as a network error, and is checked again when it is made)."""
    if _private_allowed():
        return None
    if not host:
        return "no host"
    try:
        infos = _resolve(host, None)
    except (socket.gaierror, OSError):
        return None
    if not infos or not all(is_public_address(info[4][0]) for info in infos):
        return NOT_PUBLIC
    return None


def destination_error(url: str) -> str | None:
    """Why a provider call to `url` is refused, or None (see `host_error`)."""
    if _private_allowed():
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return "the URL is not valid"
    if not host:
        return "the URL has no host"
    return host_error(host)


def ensure_public_destination(url: str, *, what: str) -> None:
    """Raise DestinationRefused when a provider call to `url` is refused."""
    reason = destination_error(url)
    if reason:
        raise DestinationRefused(f"{what}: {reason}")


def destination_field_errors(
    settings: dict[str, Any], *, urls: tuple[str, ...] = (), hosts: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """ConfigError fields for the URL and host settings that point at a non-public address.

    Settings that are missing or not of the right shape are left to `validate_config`.
    """
    errors: dict[str, list[str]] = {}
    if _private_allowed():
        return errors
    for name in urls:
        value = settings.get(name)
        if is_http_url(value) and destination_error(value):
            errors[f"settings.{name}"] = [NOT_PUBLIC_FIELD]
    for name in hosts:
        value = settings.get(name)
        if isinstance(value, str) and value.strip() and host_error(value.strip()):
            errors[f"settings.{name}"] = [NOT_PUBLIC_FIELD]
    return errors


def checked_addresses(host: str, port: int) -> list[tuple]:
    """Resolve `host` once and return its addresses, every one of them checked.

    Raises DestinationRefused if any is not public (unless CLARION_ALLOW_PRIVATE_DESTINATIONS),
    socket.gaierror if the name does not resolve.
    """
    infos = _resolve(host, port)
    if not _private_allowed():
        if not infos or not all(is_public_address(info[4][0]) for info in infos):
            raise DestinationRefused(f"connection refused: {NOT_PUBLIC}")
    return infos


def connect_checked(
    host: str,
    port: int,
    timeout: Any = None,
    source_address: tuple[str, int] | None = None,
    socket_options: Any = None,
) -> socket.socket:
    """`socket.create_connection`, but only to addresses the guard has checked.

    The name is resolved once; each checked address is tried in turn, so nothing between
    the check and the connect can re-resolve the name elsewhere. `timeout` is applied when
    it is a number or None (the libraries' "default timeout" sentinels leave the socket's).
    """
    last_error: OSError | None = None
    for family, kind, proto, _, address in checked_addresses(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is None or isinstance(timeout, int | float):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            last_error = exc
            sock.close()
    raise last_error or OSError(f"no address to connect to for {host!r}")
