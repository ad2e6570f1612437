"""Email through any SMTP server (`smtp`), with Django's SMTP backend."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from typing import Any

from django.core.mail.backends.smtp import EmailBackend as SmtpBackend

from connectors.base import (
    REQUIRED,
    ConnectorError,
    DestinationRefused,
    PermanentError,
    Recipient,
    RenderedMessage,
    SendResult,
    TransientError,
    connect_checked,
    credential,
    provider_timeout,
    raise_for,
    redact,
    setting,
)
from connectors.channels import Channel
from connectors.mail import DELIVERY_HEADER, EmailBackendConnector, message_id_for, sender_errors
from connectors.registry import register


class _CheckedSocket(smtplib.SMTP):
    """smtplib's socket creation through the destination guard (see connectors.base):
    the host is resolved once, every address checked, and a checked one connected to."""

    def _get_socket(self, host, port, timeout):
        if timeout is not None and not timeout:
            raise ValueError("Non-blocking socket (timeout=0) is not supported")
        return connect_checked(host, port, timeout, self.source_address)


class CheckedSMTP(_CheckedSocket):
    pass


class CheckedSMTPSSL(smtplib.SMTP_SSL, _CheckedSocket):
    # SMTP_SSL._get_socket wraps what super()._get_socket (the checked one) connected.
    pass


class _CheckedSmtpBackend(SmtpBackend):
    """Django's SMTP backend, connecting through the destination guard."""

    @property
    def connection_class(self):
        return CheckedSMTPSSL if self.use_ssl else CheckedSMTP


@dataclass(frozen=True)
class SmtpConfig:
    host: str = setting(help="The SMTP server's host name, e.g. smtp.example.com.")
    port: int = setting(help="587 with STARTTLS, 465 with implicit TLS, 25 without.")
    from_email: str = setting(help="The sender, e.g. Acme <no-reply@acme.example>.")
    reply_to: str | None = setting(None, help="Where replies go; blank: to the sender.")
    use_tls: bool = setting(False, help="STARTTLS after connecting (port 587).")
    use_ssl: bool = setting(False, help="Implicit TLS from the start (port 465).")
    username: str = credential("", help="Blank when the server needs no login.")
    password: str = credential("")


@register
class SmtpConnector(EmailBackendConnector):
    """Any SMTP server through Django's SMTP backend; one connection per batch.

    settings: `host`, `port`, `use_tls` (STARTTLS, default false), `use_ssl` (implicit TLS,
    default false), `from_email`, optional `reply_to`; credentials: `username`, `password`
    (optional, both or neither).
    """

    key = "smtp"
    channel = Channel.EMAIL
    config_class = SmtpConfig
    destination_hosts = ("host",)
    config: SmtpConfig
    _backend: SmtpBackend | None

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> SmtpConfig:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
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
        errors.update(sender_errors(settings))
        username, password = credentials.get("username"), credentials.get("password")
        for name, value in (("username", username), ("password", password)):
            if value is not None and not isinstance(value, str):
                errors[f"credentials.{name}"] = ["Must be a string."]
        if username and not password:
            errors["credentials.password"] = ["Required when a username is given."]
        if password and not username:
            errors["credentials.username"] = ["Required when a password is given."]
        raise_for(errors)
        return SmtpConfig(
            host=host,
            port=int(port),
            from_email=settings["from_email"],
            reply_to=settings.get("reply_to") or None,
            use_tls=bool(settings.get("use_tls", False)),
            use_ssl=bool(settings.get("use_ssl", False)),
            username=username or "",
            password=password or "",
        )

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Send one email; the Message-ID derives from the idempotency key and is returned."""
        message_id = message_id_for(idempotency_key, self.config.from_email)
        email = self._email(
            message, recipient, {"Message-ID": message_id, DELIVERY_HEADER: idempotency_key}
        )
        with self._sending():
            try:
                self._open().send_messages([email])
            except DestinationRefused as exc:
                raise DestinationRefused(f"smtp: {exc}") from None
            except (OSError, ValueError) as exc:  # smtplib.SMTPException is an OSError
                self._close_if_broken(exc)
                raise _smtp_error(exc) from None
        return SendResult(provider_message_id=message_id, response_code=250)

    def _open(self) -> SmtpBackend:
        if self._backend is None:
            connect, read = provider_timeout()
            config = self.config
            self._backend = _CheckedSmtpBackend(
                host=config.host,
                port=config.port,
                # Explicit values, never None: None makes Django fall back to the platform's
                # own EMAIL_HOST_USER / EMAIL_HOST_PASSWORD, which a tenant must never use.
                username=config.username,
                password=config.password,
                use_tls=config.use_tls,
                use_ssl=config.use_ssl,
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
