"""SMS: the Twilio Messages API (`twilio`, or any Twilio-compatible API) and `console` for dev."""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

import phonenumbers

from connectors.base import (
    REQUIRED,
    ConfigError,
    Connector,
    HttpConnector,
    PermanentError,
    Recipient,
    RenderedMessage,
    SendResult,
    http_error,
    json_object,
    redact,
    url_setting_errors,
)
from connectors.registry import register

TWILIO_API = "https://api.twilio.com"
_SID = re.compile(r"^[A-Za-z0-9]+$")


def _e164_errors(value: Any) -> list[str]:
    if value in (None, ""):
        return [REQUIRED]
    if not isinstance(value, str):
        return ["Enter a phone number in E.164 format, e.g. +14155552671."]
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return ["Enter a phone number in E.164 format, e.g. +14155552671."]
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number) or e164 != value:
        return ["Enter a valid phone number in E.164 format, e.g. +14155552671."]
    return []


def _recipient_phone(recipient: Recipient) -> str:
    """The recipient's number in E.164; PermanentError without a usable one."""
    if not recipient.phone:
        raise PermanentError("the subscriber has no phone number")
    try:
        number = phonenumbers.parse(recipient.phone, None)
    except phonenumbers.NumberParseException:
        raise PermanentError("the subscriber's phone number is not in E.164 format") from None
    if not phonenumbers.is_possible_number(number):
        raise PermanentError("the subscriber's phone number is not a possible number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str | None) -> str:
    """`+14155552671` → `+1*******71`: enough to tell numbers apart in dev output."""
    if not phone:
        return "-"
    return phone[:2] + "*" * max(len(phone) - 4, 0) + phone[-2:]


@register
class TwilioConnector(HttpConnector):
    """Twilio's Programmable Messaging API, or any API compatible with it.

    settings: `account_sid`, `from_number` (E.164), `base_url` (default
    https://api.twilio.com), optional `status_callback` (URL for delivery receipts);
    credentials: `auth_token`.
    https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
    """

    key = "twilio"
    channel = "sms"

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Raise ConfigError naming every invalid setting or credential."""
        errors: dict[str, list[str]] = {}
        sid = settings.get("account_sid")
        if not sid:
            errors["settings.account_sid"] = [REQUIRED]
        elif not isinstance(sid, str) or not _SID.match(sid):
            errors["settings.account_sid"] = ["Enter the account SID (letters and digits)."]
        if problems := _e164_errors(settings.get("from_number")):
            errors["settings.from_number"] = problems
        errors.update(url_setting_errors(settings, "base_url", "status_callback"))
        token = credentials.get("auth_token")
        if not token or not isinstance(token, str):
            errors["credentials.auth_token"] = [REQUIRED]
        if errors:
            raise ConfigError(errors)

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Create one Message resource; returns its `sid`."""
        to = _recipient_phone(recipient)
        if not message.body:
            raise PermanentError("the rendered SMS is empty")
        sid = self.settings["account_sid"]
        base_url = (self.settings.get("base_url") or TWILIO_API).rstrip("/")
        form = {"To": to, "From": self.settings["from_number"], "Body": message.body}
        if self.settings.get("status_callback"):
            form["StatusCallback"] = self.settings["status_callback"]
        response = self._post(
            f"{base_url}/2010-04-01/Accounts/{sid}/Messages.json",
            what="twilio",
            data=form,
            auth=(sid, self.credentials["auth_token"]),
            headers={
                "Accept": "application/json",
                # Twilio drops a repeated request carrying the same token.
                "I-Twilio-Idempotency-Token": idempotency_key,
            },
        )
        if response.status_code in (200, 201):
            try:
                message_sid = response.json()["sid"]
            except (ValueError, KeyError, TypeError):
                raise PermanentError(
                    "twilio: the response has no message sid", response_code=response.status_code
                ) from None
            return SendResult(
                provider_message_id=str(message_sid), response_code=response.status_code
            )
        raise http_error(response, "twilio", _twilio_detail(response))


def _twilio_detail(response: Any) -> str:
    """Twilio's error `code` and `message` (the message can quote the number: redacted).

    https://www.twilio.com/docs/api/errors
    """
    body = json_object(response)
    code, text = body.get("code"), body.get("message")
    parts = [f"code {code}" if code else "", redact(text, 160) if text else ""]
    return ": ".join(part for part in parts if part)


@register
class ConsoleSmsConnector(Connector):
    """Development SMS: one line per message on a stream (stdout by default), no network.

    settings: optional `show_body` (default false). NOTE: the phone number is always masked,
    and the text is shown only when `show_body` is true: stdout usually ends up in logs.
    """

    key = "console"
    channel = "sms"

    def __init__(
        self, settings: dict[str, Any], credentials: dict[str, Any], *, stream: TextIO | None = None
    ):
        super().__init__(settings, credentials)
        self.stream = stream

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Raise ConfigError naming every invalid setting."""
        if settings.get("show_body") is not None and not isinstance(settings["show_body"], bool):
            raise ConfigError({"settings.show_body": ["Must be true or false."]})

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Write the SMS as one line; returns `console-<idempotency key>`."""
        to = _recipient_phone(recipient)
        text = (
            repr(message.body) if self.settings.get("show_body") else f"<{len(message.body)} chars>"
        )
        stream = self.stream or sys.stdout
        stream.write(
            f"[sms] delivery={idempotency_key} subscriber={recipient.subscriber_id} "
            f"to={mask_phone(to)} body={text}\n"
        )
        stream.flush()
        return SendResult(provider_message_id=f"console-{idempotency_key}")
