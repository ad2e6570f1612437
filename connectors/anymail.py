"""Email through an ESP's HTTP API with django-anymail (`anymail:<esp>`).

One connector class per ESP django-anymail ships a backend for (SES, SendGrid, Mailgun,
Postmark, Resend, ...): `anymail` itself requires a variant, and `anymail:postmark`
resolves to a subclass bound to Postmark. https://anymail.dev/en/stable/esps/
"""

from __future__ import annotations

import functools
import json
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from types import MappingProxyType
from typing import Any, ClassVar

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from django.core.exceptions import ImproperlyConfigured

from connectors.anymail_webhooks import (
    WEBHOOK_ESPS,
    anymail_webhook_events,
    webhook_credential_names,
)
from connectors.base import (
    REQUIRED,
    ConfigError,
    ConfigField,
    ConnectorError,
    DestinationRefused,
    PermanentError,
    Recipient,
    RenderedMessage,
    SendResult,
    TransientError,
    ensure_public_destination,
    internal,
    is_http_url,
    provider_timeout,
    raise_for,
    redact,
    setting,
)
from connectors.channels import Channel
from connectors.http import guard_session, json_object, status_error
from connectors.mail import DELIVERY_HEADER, EmailBackendConnector, sender_errors
from connectors.registry import register

# Modules of anymail.backends that are not ESPs (or would print whole messages to stdout).
_NOT_ESPS = frozenset({"base", "base_requests", "console", "test"})

# What each ESP's backend requires (from django-anymail's backends: the
# get_anymail_setting calls without a default). Requiring them here matters: a missing one
# would otherwise be read from the platform's own Django settings.
_ESP_REQUIRED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # esp: (settings, credentials)
    "amazon_ses": ((), ("aws_access_key_id", "aws_secret_access_key")),
    "brevo": ((), ("api_key",)),
    "mailersend": ((), ("api_token",)),
    "mailgun": ((), ("api_key",)),
    "mailjet": ((), ("api_key", "secret_key")),
    "mailtrap": ((), ("api_token",)),
    "mandrill": ((), ("api_key",)),
    "postal": (("api_url",), ("api_key",)),
    "postmark": ((), ("server_token",)),
    "resend": ((), ("api_key",)),
    "scaleway": (("project_id",), ("secret_key",)),
    "sendgrid": ((), ("api_key",)),
    "sendinblue": ((), ("api_key",)),
    "sparkpost": ((), ("api_key",)),
    "unisender_go": (("api_url",), ("api_key",)),
}
# boto3 client arguments for Amazon SES, taken from settings/credentials.
_SES_CLIENT_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "region_name",
    "endpoint_url",
)


@functools.cache
def anymail_esps() -> tuple[str, ...]:
    """The ESP names django-anymail ships a backend for (`postmark`, `sendgrid`, ...)."""
    import anymail.backends

    return tuple(
        sorted(
            module.name
            for module in pkgutil.iter_modules(anymail.backends.__path__)
            if not module.name.startswith("_") and module.name not in _NOT_ESPS
        )
    )


@dataclass(frozen=True)
class AnymailConfig:
    esp: str = internal()
    from_email: str = setting(help="The sender, e.g. Acme <no-reply@acme.example>.")
    reply_to: str | None = setting(None, help="Where replies go; blank: to the sender.")
    # The ESP backend's options (`api_url`, `message_stream`, `region_name`, ...).
    options: Mapping[str, Any] = internal(default_factory=lambda: MappingProxyType({}))
    # The ESP's secrets (`api_key`, `server_token`, ...), passed to the backend as options.
    secrets: Mapping[str, Any] = internal(default_factory=lambda: MappingProxyType({}), repr=False)


@register
class AnymailConnector(EmailBackendConnector):
    """An ESP's HTTP API through django-anymail; provider string `anymail:<esp>`.

    The ESP is carried by the class: `AnymailConnector.variant("postmark")` (what the registry
    returns for `anymail:postmark`) is a subclass with `esp = "postmark"`; constructing this
    base class with `esp=` works too. settings: `from_email`, optional `reply_to`, and the
    ESP's options as django-anymail names them in lower case (`api_url`, `message_stream`,
    `sender_domain`, ...); credentials: the ESP's secrets (`api_key`, `server_token`, ...).
    Amazon SES takes `aws_access_key_id` / `aws_secret_access_key` (credentials) and
    `region_name` (settings) and needs boto3 (`django-anymail[amazon-ses]`).
    """

    key = "anymail"
    channel = Channel.EMAIL
    config_class = AnymailConfig
    requires_variant = True
    # `api_url` (Postal, Unisender Go, or any ESP's override), `endpoint_url` (Amazon SES).
    destination_urls = ("api_url", "endpoint_url")
    esp: ClassVar[str] = ""
    config: AnymailConfig

    def __init__(
        self, settings: dict[str, Any], credentials: dict[str, Any], *, esp: str | None = None
    ):
        if esp is not None:
            self.esp = self.variant(esp).esp
        if not self.esp:
            raise ValueError("use AnymailConnector.variant(<esp>) or pass esp=")
        super().__init__(settings, credentials)

    @classmethod
    def variant(cls, name: str) -> type[AnymailConnector]:
        """The connector class bound to one ESP; ValueError if django-anymail lacks it."""
        if name not in anymail_esps():
            raise ValueError(f"django-anymail has no ESP {name!r}")
        return _esp_class(name)

    @classmethod
    def variants(cls) -> tuple[str, ...]:
        """Every ESP django-anymail ships a backend for."""
        return anymail_esps()

    @classmethod
    def webhook_events(
        cls, request: Any, *, settings: dict[str, Any], credentials: dict[str, Any], url: str
    ) -> list[Any]:
        """The ESP's tracking webhook, checked with this integration's webhook credentials
        (`connectors.anymail_webhooks`)."""
        return anymail_webhook_events(cls.esp, request, credentials=credentials)

    @classmethod
    def config_fields(cls) -> tuple[ConfigField, ...]:
        """The sender, then what this ESP's backend requires (other options as extras)."""
        required_settings, required_credentials = _ESP_REQUIRED.get(cls.esp, ((), ()))
        return (
            *super().config_fields(),
            *(ConfigField(name, "settings", str, required=True) for name in required_settings),
            *(
                ConfigField(name, "credentials", str, required=True)
                for name in required_credentials
            ),
            # What checks the ESP's tracking webhook (see README, Delivery feedback).
            *(
                ConfigField(name, "credentials", str, required=False, help="tracking webhook")
                for name in webhook_credential_names(cls.esp)
                if name not in required_credentials
            ),
        )

    @classmethod
    def validate_config(
        cls, settings: dict[str, Any], credentials: dict[str, Any]
    ) -> AnymailConfig:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
        if not cls.esp:
            raise ConfigError({"provider": ["Name the ESP: anymail:<esp>."]})
        errors = sender_errors(settings)
        required_settings, required_credentials = _ESP_REQUIRED.get(cls.esp, ((), ()))
        for name in required_settings:
            if not settings.get(name):
                errors[f"settings.{name}"] = [REQUIRED]
        for name in required_credentials:
            if not credentials.get(name):
                errors[f"credentials.{name}"] = [REQUIRED]
        for name in ("api_url", "endpoint_url"):
            if name in settings and not is_http_url(settings[name]):
                errors[f"settings.{name}"] = ["Enter an http(s) URL."]
        raise_for(errors)
        config = AnymailConfig(
            esp=cls.esp,
            from_email=settings["from_email"],
            reply_to=settings.get("reply_to") or None,
            options=MappingProxyType(
                {k: v for k, v in settings.items() if k not in ("from_email", "reply_to")}
            ),
            secrets=MappingProxyType(dict(credentials)),
        )
        # Whatever else the backend itself refuses (missing extra package, bad option).
        try:
            _make_backend(config)
        except ImportError as exc:
            raise ConfigError({"provider": [_improperly_installed(cls.esp, exc)]}) from None
        except (ImproperlyConfigured, TypeError, ValueError) as exc:
            raise ConfigError({"settings": [redact(exc, 300)]}) from None
        return config

    def _configure(self, settings: dict[str, Any], credentials: dict[str, Any]) -> AnymailConfig:
        # `esp=` may have been given to this base class: validate as that ESP's class.
        return self.variant(self.esp).validate_config(settings, credentials)

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Send one email through the ESP's API; returns the ESP's message id."""
        # Requests-based ESPs connect through the guarded session (`_open`); boto3 (Amazon
        # SES) has its own HTTP stack, so its `endpoint_url` is checked before each send.
        endpoint_url = self.config.options.get("endpoint_url")
        if endpoint_url:
            ensure_public_destination(endpoint_url, what=f"anymail:{self.esp}")
        email = self._email(message, recipient, {DELIVERY_HEADER: idempotency_key})
        # Anymail sends metadata as the ESP's custom args / tags, echoed back in its webhooks.
        email.metadata = {"clarion_delivery": idempotency_key}
        with self._sending():
            try:
                backend = self._open()
                session = getattr(backend, "session", None)
                if self.esp == "resend" and session is not None:
                    # https://resend.com/docs/dashboard/emails/idempotency-keys
                    session.headers["Idempotency-Key"] = idempotency_key
                backend.send_messages([email])
            except DestinationRefused as exc:
                raise DestinationRefused(f"anymail:{self.esp}: {exc}") from None
            except (AnymailError, ImproperlyConfigured, ImportError) as exc:
                raise _anymail_error(exc, self.esp) from None
        status = email.anymail_status
        message_id = status.message_id
        if isinstance(message_id, set):
            message_id = ",".join(sorted(str(i) for i in message_id if i))
        response = status.esp_response
        return SendResult(
            provider_message_id=str(message_id or ""),
            response_code=getattr(response, "status_code", None),
        )

    def _open(self) -> Any:
        if self._backend is None:
            self._backend = _make_backend(self.config)
            self._backend.open()
            session = getattr(self._backend, "session", None)
            if isinstance(session, requests.Session):
                guard_session(session)
        return self._backend

    def _close(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - closing must not mask the send's outcome
                pass


def _make_backend(config: AnymailConfig) -> Any:
    """The ESP's django-anymail backend, configured from the integration alone.

    Every option is passed explicitly, so none falls back to the platform's Django settings.
    """
    backend_class = import_module(f"anymail.backends.{config.esp}").EmailBackend
    options = {**config.options, **config.secrets}
    connect, read = provider_timeout()
    if config.esp == "amazon_ses":
        client = {k: options.pop(k) for k in _SES_CLIENT_KEYS if k in options}
        # botocore retries by itself, sleeping in the worker: one attempt only, since
        # retries are scheduled by the pipeline.
        client["config"] = {
            "connect_timeout": connect,
            "read_timeout": read,
            "retries": {"total_max_attempts": 1},
        }
        options["client_params"] = client
    else:
        options["timeout"] = (connect, read)
    # The delivery header and metadata are best effort: an ESP that lacks one of them
    # still sends the message.
    options["ignore_unsupported_features"] = True
    options["fail_silently"] = False
    return backend_class(**options)


@functools.cache
def _esp_class(esp: str) -> type[AnymailConnector]:
    name = "Anymail" + "".join(part.title() for part in esp.split("_")) + "Connector"
    return type(
        name,
        (AnymailConnector,),
        {
            "esp": esp,
            "key": f"anymail:{esp}",
            "receives_webhooks": esp in WEBHOOK_ESPS,
            "__doc__": f"django-anymail's {esp} backend.",
        },
    )


def _improperly_installed(esp: str, exc: BaseException) -> str:
    return f"django-anymail's {esp} backend is not installed completely ({redact(exc, 200)})."


def _esp_error_detail(response: Any) -> str:
    """A short, redacted error code or message from an ESP's JSON error body."""
    body = json_object(response)
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        body = errors[0]
    for key in ("ErrorCode", "code", "error", "message", "Message", "name"):
        value = body.get(key)
        if value not in (None, "", 0):
            return redact(value if isinstance(value, str) else json.dumps(value), 120)
    return ""


def _anymail_error(exc: BaseException, esp: str) -> ConnectorError:
    """Classify an anymail error. NOTE: str(exc) is never used: it quotes the API response."""
    what = f"anymail:{esp}"
    answered = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentError(f"{what}: the ESP refused the recipient", response_code=answered)
    if isinstance(exc, AnymailInvalidAddress):
        return PermanentError(f"{what}: invalid email address", response_code=answered)
    if isinstance(exc, ImportError):
        return PermanentError(_improperly_installed(esp, exc))
    if isinstance(exc, ImproperlyConfigured):
        return PermanentError(f"{what}: misconfigured ({redact(exc, 200)})")
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        if status is None:
            # No HTTP answer: a network error or a timeout. (Anymail's error then also
            # subclasses the requests exception it wraps.)
            timed_out = isinstance(exc, requests.Timeout) or isinstance(
                exc.__cause__, requests.Timeout
            )
            return TransientError(f"{what}: {'timed out' if timed_out else 'network error'}")
        response = exc.response
        detail = _esp_error_detail(response)
        text = f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
        headers = getattr(response, "headers", None) or {}
        return status_error(status, text, headers.get("Retry-After"))
    # Unsupported feature, serialization error, cancelled send: retrying changes nothing.
    return PermanentError(f"{what}: {type(exc).__name__}")
