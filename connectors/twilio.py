"""SMS through the Twilio Messages API (`twilio`), or any Twilio-compatible API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from connectors.base import (
    REQUIRED,
    PermanentError,
    Recipient,
    RenderedMessage,
    SendResult,
    credential,
    raise_for,
    redact,
    setting,
    url_setting_errors,
)
from connectors.channels import Channel
from connectors.feedback import Feedback, FeedbackEvent, WebhookNotConfigured, WebhookRefused
from connectors.http import HttpConnector, http_error, json_object
from connectors.phone import e164_errors, recipient_phone
from connectors.registry import register

TWILIO_API = "https://api.twilio.com"
_SID = re.compile(r"^[A-Za-z0-9]+$")
SIGNATURE_HEADER = "X-Twilio-Signature"
# Message statuses a status callback reports that say what became of the message.
# https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
_STATUS_FEEDBACK = {
    "delivered": Feedback.DELIVERED,
    "read": Feedback.OPENED,
    "undelivered": Feedback.BOUNCED,
    "failed": Feedback.BOUNCED,
}
# Error codes after which the number should not be sent to again: the recipient opted out
# (STOP), the number is unknown, or it cannot receive SMS (a landline).
# https://www.twilio.com/docs/api/errors
_PERMANENT_ERRORS = frozenset({"21610", "21614", "30005", "30006"})


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """X-Twilio-Signature for a request: base64(HMAC-SHA1(auth token, URL + sorted params)).

    The URL is the full one Twilio requested (query string included); each POST parameter's
    name and value are appended in order of name (then value).
    https://www.twilio.com/docs/usage/security#validating-requests
    """
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as requested, and with its default port added or removed: Twilio signs the
    URL as configured, and a proxy in between may add or drop `:443`."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if not default or not parts.hostname:
        return [url]
    if parts.port is None:
        other = parts._replace(netloc=f"{parts.netloc}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])
    else:
        return [url]
    return [url, urlunsplit(other)]


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str = setting(help="AC… from the Twilio console.")
    from_number: str = setting(help="The sending number in E.164, e.g. +14155550123.")
    auth_token: str = credential()
    base_url: str = setting(TWILIO_API, help="Twilio's API, or any Twilio-compatible one.")
    status_callback: str = setting("", help="A URL Twilio calls with delivery receipts.")


@register
class TwilioConnector(HttpConnector):
    """Twilio's Programmable Messaging API, or any API compatible with it.

    settings: `account_sid`, `from_number` (E.164), `base_url` (default
    https://api.twilio.com), optional `status_callback` (URL for delivery receipts);
    credentials: `auth_token`.
    https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
    """

    key = "twilio"
    channel = Channel.SMS
    config_class = TwilioConfig
    # `status_callback` is called by Twilio, not by Clarion: not a destination.
    destination_urls = ("base_url",)
    # Status callbacks: `webhook_events`; the pipeline points `status_callback` at them.
    receives_webhooks = True
    config: TwilioConfig

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> TwilioConfig:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
        errors: dict[str, list[str]] = {}
        sid = settings.get("account_sid")
        if not sid:
            errors["settings.account_sid"] = [REQUIRED]
        elif not isinstance(sid, str) or not _SID.match(sid):
            errors["settings.account_sid"] = ["Enter the account SID (letters and digits)."]
        if problems := e164_errors(settings.get("from_number")):
            errors["settings.from_number"] = problems
        errors.update(url_setting_errors(settings, "base_url", "status_callback"))
        token = credentials.get("auth_token")
        if not token or not isinstance(token, str):
            errors["credentials.auth_token"] = [REQUIRED]
        raise_for(errors)
        return TwilioConfig(
            account_sid=sid,
            from_number=settings["from_number"],
            auth_token=token,
            base_url=(settings.get("base_url") or TWILIO_API).rstrip("/"),
            status_callback=settings.get("status_callback") or "",
        )

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Create one Message resource; returns its `sid`."""
        to = recipient_phone(recipient)
        if not message.body:
            raise PermanentError("the rendered SMS is empty")
        config = self.config
        form = {"To": to, "From": config.from_number, "Body": message.body}
        if config.status_callback:
            form["StatusCallback"] = config.status_callback
        response = self._post(
            f"{config.base_url}/2010-04-01/Accounts/{config.account_sid}/Messages.json",
            what="twilio",
            data=form,
            auth=(config.account_sid, config.auth_token),
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

    @classmethod
    def webhook_events(
        cls, request: Any, *, settings: dict[str, Any], credentials: dict[str, Any], url: str
    ) -> list[FeedbackEvent]:
        """A status callback, checked against `X-Twilio-Signature` with the auth token.

        `url` is the full URL Twilio posted to. Raises WebhookRefused when the signature
        (or the account) does not match.
        """
        token = credentials.get("auth_token")
        if not token or not isinstance(token, str):
            raise WebhookNotConfigured("the integration has no auth_token")
        provided = request.headers.get(SIGNATURE_HEADER, "")
        params = [(name, value) for name, values in request.POST.lists() for value in values]
        if not provided or not any(
            hmac.compare_digest(twilio_signature(token, variant, params), provided)
            for variant in _url_variants(url)
        ):
            raise WebhookRefused(f"missing or invalid {SIGNATURE_HEADER}")
        form = request.POST
        if form.get("AccountSid") and form.get("AccountSid") != settings.get("account_sid"):
            raise WebhookRefused("the callback is for another Twilio account")
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        kind = _STATUS_FEEDBACK.get(status)
        message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
        if kind is None or not message_sid:
            return []
        error_code = form.get("ErrorCode") or ""
        return [
            FeedbackEvent(
                kind=kind,
                message_id=message_sid,
                # Each status is reported once per message: a repeat is the same event.
                event_id=f"twilio:{status}",
                recipient=form.get("To") or "",
                detail=f"twilio: {status}" + (f" (error {error_code[:10]})" if error_code else ""),
                suppress=kind == Feedback.BOUNCED and error_code in _PERMANENT_ERRORS,
            )
        ]


def _twilio_detail(response: Any) -> str:
    """Twilio's error `code` and `message` (the message can quote the number: redacted).

    https://www.twilio.com/docs/api/errors
    """
    body = json_object(response)
    code, text = body.get("code"), body.get("message")
    parts = [f"code {code}" if code else "", redact(text, 160) if text else ""]
    return ": ".join(part for part in parts if part)
