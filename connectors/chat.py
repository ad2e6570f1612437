"""Chat: a signed generic HTTP webhook (`webhook`) and Slack incoming webhooks (`slack`)."""

from __future__ import annotations

import base64
import binascii
import json
import time
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from connectors.base import (
    REQUIRED,
    ConfigError,
    HttpConnector,
    PermanentError,
    Recipient,
    RenderedMessage,
    SendResult,
    http_error,
    is_http_url,
    url_setting_errors,
)
from connectors.registry import register

EVENT_TYPE = "notification.delivery"
USER_AGENT = "Clarion-Webhooks/1"


def _secret_errors(secret: Any) -> list[str]:
    """Standard Webhooks secrets: `whsec_` + base64 of 24 to 64 random bytes."""
    if not secret:
        return [REQUIRED]
    if not isinstance(secret, str):
        return ["Must be a string like whsec_<base64>."]
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return ["Must be whsec_ followed by base64."]
    if not 24 <= len(key) <= 64:
        return ["The key must decode to between 24 and 64 bytes."]
    return []


def _target_url(recipient: Recipient, settings: dict[str, Any]) -> str:
    """The subscriber's own `webhook_url`, else the integration's `url`."""
    url = recipient.credentials.get("webhook_url") or settings.get("url")
    if not url:
        raise PermanentError("no webhook URL: neither the subscriber nor the integration has one")
    if not is_http_url(url):
        raise PermanentError("the webhook URL is not an http(s) URL")
    return url


def webhook_payload(
    message: RenderedMessage, recipient: Recipient, *, idempotency_key: str, now: datetime
) -> dict[str, Any]:
    """The JSON document the `webhook` connector POSTs for one delivery.

    The envelope is the one the Standard Webhooks spec recommends (`type`, `timestamp`,
    `data`); `data.delivery_id` equals the `webhook-id` header and is stable across retries,
    so receivers can deduplicate on it.
    """
    return {
        "type": EVENT_TYPE,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {
            "delivery_id": idempotency_key,
            "subscriber_id": recipient.subscriber_id,
            "subject": message.subject,
            "body": message.body,
            "cta_url": message.cta_url,
            "data": message.data,
        },
    }


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` per the Standard Webhooks spec.

    https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
    """
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body)


@register
class WebhookConnector(HttpConnector):
    """POST a JSON document per delivery, signed per the Standard Webhooks spec.

    settings: `url` (optional when every subscriber has its own); credentials: `secret`
    (`whsec_<base64>`). Subscriber credentials (key `webhook`): `{"webhook_url": ...}`
    overrides `url`. Headers: `webhook-id` (the idempotency key), `webhook-timestamp` (unix
    seconds, fresh on each attempt), `webhook-signature` (`v1,<base64>`).
    """

    key = "webhook"
    channel = "chat"
    credentials_key = "webhook"

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Raise ConfigError naming every invalid setting or credential."""
        errors = url_setting_errors(settings, "url")
        if problems := _secret_errors(credentials.get("secret")):
            errors["credentials.secret"] = problems
        if errors:
            raise ConfigError(errors)

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """POST the signed document; any 2xx is a success."""
        url = _target_url(recipient, self.settings)
        timestamp = int(time.time())
        payload = webhook_payload(
            message,
            recipient,
            idempotency_key=idempotency_key,
            now=datetime.fromtimestamp(timestamp, tz=UTC),
        )
        # The signature covers these exact bytes: serialise once, send what was signed.
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
        response = self._post(
            url,
            what="webhook",
            data=body.encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "webhook-id": idempotency_key,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(
                    self.credentials["secret"], idempotency_key, timestamp, body
                ),
            },
        )
        if 200 <= response.status_code < 300:
            return SendResult(
                provider_message_id=idempotency_key, response_code=response.status_code
            )
        raise http_error(response, "webhook")


def _slack_escape(text: str) -> str:
    # https://api.slack.com/reference/surfaces/formatting#escaping
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(message: RenderedMessage, link_text: str = "Open") -> str:
    """Slack mrkdwn: the subject in bold, the body, and the call to action as a link."""
    lines = []
    if message.subject:
        lines.append(f"*{_slack_escape(message.subject)}*")
    if message.body:
        lines.append(_slack_escape(message.body))
    if message.cta_url:
        url = message.cta_url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
        lines.append(f"<{url}|{_slack_escape(link_text)}>")
    return "\n".join(lines)


@register
class SlackConnector(HttpConnector):
    """Slack incoming webhooks: https://api.slack.com/messaging/webhooks

    settings: `url` (the incoming-webhook URL; optional when subscribers bring their own),
    optional `link_text` (default "Open"). Subscriber credentials (key `slack`):
    `{"webhook_url": ...}` overrides `url`. NOTE: the URL is itself the secret.
    """

    key = "slack"
    channel = "chat"
    credentials_key = "slack"

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Raise ConfigError naming every invalid setting."""
        errors = url_setting_errors(settings, "url")
        link_text = settings.get("link_text")
        if link_text is not None and (not isinstance(link_text, str) or not link_text.strip()):
            errors["settings.link_text"] = ["Enter a non-empty text."]
        if errors:
            raise ConfigError(errors)

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """POST `{"text": ...}`; Slack answers 200 `ok`."""
        url = _target_url(recipient, self.settings)
        text = slack_text(message, self.settings.get("link_text") or "Open")
        if not text:
            raise PermanentError("the rendered chat message is empty")
        response = self._post(url, what="slack", json={"text": text})
        if response.status_code == 200:
            return SendResult(response_code=200)
        # Slack's error is a short code in the body: invalid_payload, no_service,
        # channel_not_found, channel_is_archived, action_prohibited, ...
        code = response.text.strip()[:60] if response.text else ""
        raise http_error(response, "slack", code)
