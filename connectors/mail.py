"""What the email connectors (`smtp`, `anymail:<esp>`) share.

Both send one `EmailMultiAlternatives` per delivery through a Django email backend kept
open for the batch: `text_body` as the text/plain part and `body` as the text/html
alternative, plus the header `X-Clarion-Delivery: <idempotency key>` and the message's own
`headers` (List-Unsubscribe, set by the pipeline).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parseaddr
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email

from connectors.base import REQUIRED, Connector, PermanentError, Recipient, RenderedMessage

DELIVERY_HEADER = "X-Clarion-Delivery"


def address_errors(value: Any, *, required: bool = True) -> list[str]:
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


def sender_errors(settings: dict[str, Any]) -> dict[str, list[str]]:
    """ConfigError fields for `from_email` (required) and `reply_to` (optional)."""
    errors: dict[str, list[str]] = {}
    if problems := address_errors(settings.get("from_email")):
        errors["settings.from_email"] = problems
    if problems := address_errors(settings.get("reply_to"), required=False):
        errors["settings.reply_to"] = problems
    return errors


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
    if address_errors(recipient.email):
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
        headers={**message.headers, **headers},
    )
    if text and html:
        email.attach_alternative(html, "text/html")
    elif html:
        email.content_subtype = "html"
    return email


class EmailBackendConnector(Connector):
    """A Django email backend per batch, shared by the SMTP and anymail connectors.

    Subclasses implement `_open()` (the backend, connected at the first send) and `_close()`;
    their config has `from_email` and `reply_to` (None when unset).
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
            from_email=self.config.from_email,
            reply_to=self.config.reply_to,
            headers=headers,
        )

    def _open(self) -> Any:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError
