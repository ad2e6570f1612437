"""Email: Django's SMTP backend (`smtp`) and django-anymail's ESP backends (`anymail:<esp>`).

Both send one `EmailMultiAlternatives` per delivery: `text_body` as the text/plain part and
`body` as the text/html alternative, plus the header `X-Clarion-Delivery: <idempotency key>`.
"""

from __future__ import annotations

import functools
import json
import pkgutil
import re
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parseaddr
from importlib import import_module
from typing import Any, ClassVar

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.validators import validate_email

from connectors.base import (
    REQUIRED,
    ConfigError,
    Connector,
    ConnectorError,
    PermanentError,
    Recipient,
    RenderedMessage,
    SendResult,
    TransientError,
    ensure_public_destination,
    is_http_url,
    json_object,
    provider_timeout,
    redact,
    status_error,
)
from connectors.registry import register

DELIVERY_HEADER = "X-Clarion-Delivery"


def _address_errors(value: Any, *, required: bool = True) -> list[str]:
    """Problems with an address such as `noreply@acme.example` or `Acme <noreply@acme.example>`."""
    if value in (None, ""):
        return [REQUIRED] if required else []
    if not isinstance(value, str):
        return ["Enter an email address."]
    try:
        validate_email(parseaddr(value)[1])
    except ValidationError:
        return ["Enter a valid email address, e.g. 'Acme <noreply@acme.example>'."]
    return []


_MSGID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def message_id_for(idempotency_key: str, from_email: str) -> str:
    """A stable RFC 5322 Message-ID for a delivery: the same key always gives the same id."""
    left = re.sub(r"\.{2,}", ".", _MSGID_UNSAFE.sub("-", idempotency_key)).strip(".") or "delivery"
    domain = parseaddr(from_email)[1].rpartition("@")[2] or "clarion.invalid"
    return f"<clarion.{left}@{domain}>"


def build_email(
    message: RenderedMessage,
    recipient: Recipient,
    *,
    from_email: str,
    reply_to: str | None,
    headers: dict[str, str],
) -> EmailMultiAlternatives:
    """The multipart message for one delivery; PermanentError if it cannot be addressed."""
    if not recipient.email:
        raise PermanentError("the subscriber has no email address")
    if _address_errors(recipient.email):
        raise PermanentError("the subscriber's email address is invalid")
    text, html = message.text_body, message.body
    if not text and not html:
        raise PermanentError("the rendered email is empty")
    email = EmailMultiAlternatives(
        # A header cannot hold a line break (Django raises BadHeaderError): fold it away.
        subject=" ".join(message.subject.split()),
        body=text or html,
        from_email=from_email,
        to=[recipient.email],
        reply_to=[reply_to] if reply_to else None,
        headers=headers,
    )
    if text and html:
        email.attach_alternative(html, "text/html")
    elif html:
        email.content_subtype = "html"
    return email


def _sender_errors(settings: dict[str, Any]) -> dict[str, list[str]]:
    """ConfigError fields for `from_email` (required) and `reply_to` (optional)."""
    errors: dict[str, list[str]] = {}
    if problems := _address_errors(settings.get("from_email")):
        errors["settings.from_email"] = problems
    if problems := _address_errors(settings.get("reply_to"), required=False):
        errors["settings.reply_to"] = problems
    return errors


class _BackendConnector(Connector):
    """What the SMTP and anymail connectors share: a Django email backend per batch.

    Subclasses implement `_open()` (the backend, connected at the first send) and `_close()`.
    Settings: `from_email`, optional `reply_to`.
    """

    def __init__(self, settings: dict[str, Any], credentials: dict[str, Any]):
        super().__init__(settings, credentials)
        self._backend: Any = None
        self._in_session = False

    @contextmanager
    def session(self) -> Iterator[Connector]:
        """Reuse one connection (SMTP) or HTTP session (an ESP's API) for the whole batch."""
        self._in_session = True
        try:
            yield self
        finally:
            self._in_session = False
            self._close()

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """Around one send: outside a session, the connection closes after it."""
        try:
            yield
        finally:
            if not self._in_session:
                self._close()

    def _email(
        self, message: RenderedMessage, recipient: Recipient, headers: dict[str, str]
    ) -> EmailMultiAlternatives:
        return build_email(
            message,
            recipient,
            from_email=self.settings["from_email"],
            reply_to=self.settings.get("reply_to"),
            headers=headers,
        )

    def _open(self) -> Any:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


# --- smtp ------------------------------------------------------------------------------------


@register
class SmtpConnector(_BackendConnector):
    """Any SMTP server through Django's SMTP backend; one connection per batch.

    settings: `host`, `port`, `use_tls` (STARTTLS, default false), `use_ssl` (implicit TLS,
    default false), `from_email`, optional `reply_to`; credentials: `username`, `password`
    (optional, both or neither).
    """

    key = "smtp"
    channel = "email"
    _backend: SmtpBackend | None

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Raise ConfigError naming every invalid setting or credential."""
        errors: dict[str, list[str]] = {}
        host = settings.get("host")
        if not isinstance(host, str) or not host.strip():
            errors["settings.host"] = [REQUIRED]
        port = settings.get("port")
        if port in (None, ""):
            errors["settings.port"] = [REQUIRED]
        elif not _is_port(port):
            errors["settings.port"] = ["Enter an integer between 1 and 65535."]
        for flag in ("use_tls", "use_ssl"):
            if settings.get(flag) is not None and not isinstance(settings[flag], bool):
                errors[f"settings.{flag}"] = ["Must be true or false."]
        if settings.get("use_tls") is True and settings.get("use_ssl") is True:
            errors["settings.use_ssl"] = ["use_tls (STARTTLS) and use_ssl cannot both be true."]
        errors.update(_sender_errors(settings))
        username, password = credentials.get("username"), credentials.get("password")
        for name, value in (("username", username), ("password", password)):
            if value is not None and not isinstance(value, str):
                errors[f"credentials.{name}"] = ["Must be a string."]
        if username and not password:
            errors["credentials.password"] = ["Required when a username is given."]
        if password and not username:
            errors["credentials.username"] = ["Required when a password is given."]
        if errors:
            raise ConfigError(errors)

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Send one email; the Message-ID derives from the idempotency key and is returned."""
        message_id = message_id_for(idempotency_key, self.settings["from_email"])
        email = self._email(
            message, recipient, {"Message-ID": message_id, DELIVERY_HEADER: idempotency_key}
        )
        with self._sending():
            try:
                self._open().send_messages([email])
            except (OSError, ValueError) as exc:  # smtplib.SMTPException is an OSError
                self._close_if_broken(exc)
                raise _smtp_error(exc) from None
        return SendResult(provider_message_id=message_id, response_code=250)

    def _open(self) -> SmtpBackend:
        if self._backend is None:
            connect, read = provider_timeout()
            port = int(self.settings["port"])
            self._backend = SmtpBackend(
                host=self.settings["host"],
                port=port,
                # Explicit values, never None: None makes Django fall back to the platform's
                # own EMAIL_HOST_USER / EMAIL_HOST_PASSWORD, which a tenant must never use.
                username=self.credentials.get("username") or "",
                password=self.credentials.get("password") or "",
                use_tls=bool(self.settings.get("use_tls", False)),
                use_ssl=bool(self.settings.get("use_ssl", False)),
                timeout=connect,
                fail_silently=False,
            )
            self._read_timeout = read
        backend = self._backend
        try:
            if backend.open():
                # smtplib has one timeout for connecting and reading: connect with the short
                # one, then give the established socket the read timeout.
                sock = getattr(backend.connection, "sock", None)
                if sock is not None:
                    sock.settimeout(self._read_timeout)
        except Exception:
            # open() leaves a half-open connection behind when STARTTLS or AUTH fails.
            self._close()
            raise
        return backend

    def _close_if_broken(self, exc: Exception) -> None:
        # After a 4xx/5xx reply smtplib sends RSET and the connection stays usable; after a
        # disconnect, a timeout or a 421 it does not, and the next send must reconnect.
        connection = self._backend.connection if self._backend else None
        replied = isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPResponseException)
        if connection is None or not replied or getattr(connection, "sock", None) is None:
            self._close()

    def _close(self) -> None:
        if self._backend is None:
            return
        try:
            self._backend.close()
        except Exception:  # noqa: BLE001 - closing a dead connection must not mask the error
            pass
        finally:
            self._backend.connection = None


def _is_port(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return isinstance(value, int) and 1 <= value <= 65535


def _smtp_reply_error(code: int | None, what: str, text: Any = "") -> ConnectorError:
    # RFC 5321 section 4.2.1: 4yz is a transient negative reply, 5yz a permanent one.
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text or "")
    message = f"smtp: {what}" + (f" ({code} {redact(detail, 120)})" if code else "")
    if code is not None and 500 <= code < 600:
        return PermanentError(message, response_code=code)
    return TransientError(message, response_code=code)


def _smtp_error(exc: Exception) -> ConnectorError:
    """Classify an smtplib / socket error. Messages never carry the addresses involved."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PermanentError(
            "smtp: authentication failed; check the username and password",
            response_code=exc.smtp_code,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()), (None, ""))
        return _smtp_reply_error(code, "recipient refused", text)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _smtp_reply_error(exc.smtp_code, "sender refused", exc.smtp_error)
    if isinstance(exc, smtplib.SMTPDataError):
        return _smtp_reply_error(exc.smtp_code, "message refused", exc.smtp_error)
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
        # A greeting or EHLO refusal is about the server's state, not this message.
        return TransientError(
            f"smtp: server refused the session ({exc.smtp_code})", response_code=exc.smtp_code
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return _smtp_reply_error(exc.smtp_code, "command refused", exc.smtp_error)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError("smtp: the server lacks a required extension (STARTTLS or AUTH)")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientError("smtp: server disconnected")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError("smtp: the server's TLS certificate failed verification")
    if isinstance(exc, TimeoutError):
        return TransientError("smtp: timed out")
    if isinstance(exc, OSError):
        return TransientError(f"smtp: connection failed ({type(exc).__name__})")
    return PermanentError(f"smtp: invalid message ({type(exc).__name__})")


# --- anymail ---------------------------------------------------------------------------------

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


@register
class AnymailConnector(_BackendConnector):
    """An ESP's HTTP API through django-anymail; provider string `anymail:<esp>`.

    The ESP is carried by the class: `AnymailConnector.for_esp("postmark")` (what the registry
    returns for `anymail:postmark`) is a subclass with `esp = "postmark"`; constructing this
    base class with `esp=` works too. settings: `from_email`, optional `reply_to`, and the
    ESP's options as django-anymail names them in lower case (`api_url`, `message_stream`,
    `sender_domain`, ...); credentials: the ESP's secrets (`api_key`, `server_token`, ...).
    Amazon SES takes `aws_access_key_id` / `aws_secret_access_key` (credentials) and
    `region_name` (settings) and needs boto3 (`django-anymail[amazon-ses]`).
    """

    key = "anymail"
    channel = "email"
    esp: ClassVar[str] = ""

    def __init__(
        self, settings: dict[str, Any], credentials: dict[str, Any], *, esp: str | None = None
    ):
        super().__init__(settings, credentials)
        if esp is not None:
            if esp not in anymail_esps():
                raise ValueError(f"django-anymail has no ESP {esp!r}")
            self.esp = esp
        if not self.esp:
            raise ValueError("use AnymailConnector.for_esp(<esp>) or pass esp=")

    @classmethod
    def for_esp(cls, esp: str) -> type[AnymailConnector]:
        """The connector class bound to one ESP; ValueError if django-anymail lacks it."""
        if esp not in anymail_esps():
            raise ValueError(f"django-anymail has no ESP {esp!r}")
        return _esp_class(esp)

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Raise ConfigError naming every invalid setting or credential."""
        if not cls.esp:
            raise ConfigError({"provider": ["Name the ESP: anymail:<esp>."]})
        errors = _sender_errors(settings)
        required_settings, required_credentials = _ESP_REQUIRED.get(cls.esp, ((), ()))
        for name in required_settings:
            if not settings.get(name):
                errors[f"settings.{name}"] = [REQUIRED]
        for name in required_credentials:
            if not credentials.get(name):
                errors[f"credentials.{name}"] = [REQUIRED]
        if "api_url" in settings and not is_http_url(settings["api_url"]):
            errors["settings.api_url"] = ["Enter an http(s) URL."]
        if errors:
            raise ConfigError(errors)
        # Whatever else the backend itself refuses (missing extra package, bad option).
        try:
            cls._make_backend(settings, credentials)
        except ImportError as exc:
            raise ConfigError({"provider": [_improperly_installed(cls.esp, exc)]}) from None
        except (ImproperlyConfigured, TypeError, ValueError) as exc:
            raise ConfigError({"settings": [redact(exc, 300)]}) from None

    @classmethod
    def _make_backend(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> Any:
        backend_class = import_module(f"anymail.backends.{cls.esp}").EmailBackend
        options = {k: v for k, v in settings.items() if k not in ("from_email", "reply_to")}
        options.update(credentials)
        connect, read = provider_timeout()
        if cls.esp == "amazon_ses":
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

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Send one email through the ESP's API; returns the ESP's message id."""
        if self.settings.get("api_url"):
            ensure_public_destination(self.settings["api_url"], what=f"anymail:{self.esp}")
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
            self._backend = self._make_backend(self.settings, self.credentials)
            self._backend.open()
        return self._backend

    def _close(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - closing must not mask the send's outcome
                pass


@functools.cache
def _esp_class(esp: str) -> type[AnymailConnector]:
    name = "Anymail" + "".join(part.title() for part in esp.split("_")) + "Connector"
    return type(
        name,
        (AnymailConnector,),
        {"esp": esp, "key": f"anymail:{esp}", "__doc__": f"django-anymail's {esp} backend."},
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
