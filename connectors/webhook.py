"""Chat through a generic HTTP webhook (`webhook`), signed per the Standard Webhooks spec.

https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from connectors.base import (
    REQUIRED,
    Recipient,
    RenderedMessage,
    SendResult,
    credential,
    raise_for,
    setting,
    url_setting_errors,
)
from connectors.channels import Channel
from connectors.http import HttpConnector, http_error, webhook_target_url
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
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` per the Standard Webhooks spec."""
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body)


@dataclass(frozen=True)
class WebhookConfig:
    secret: str = credential(help="The Standard Webhooks signing secret (whsec_…).")
    # Empty when every subscriber brings its own.
    url: str = setting("", help="Blank: each subscriber's own webhook_url.")


@register
class WebhookConnector(HttpConnector):
    """POST a JSON document per delivery, signed per the Standard Webhooks spec.

    settings: `url` (optional when every subscriber has its own); credentials: `secret`
    (`whsec_<base64>`). Subscriber credentials (key `webhook`): `{"webhook_url": ...}`
    overrides `url`. Headers: `webhook-id` (the idempotency key), `webhook-timestamp` (unix
    seconds, fresh on each attempt), `webhook-signature` (`v1,<base64>`).
    """

    key = "webhook"
    channel = Channel.CHAT
    config_class = WebhookConfig
    credentials_key = "webhook"
    destination_urls = ("url",)
    config: WebhookConfig

    @classmethod
    def validate_config(
        cls, settings: dict[str, Any], credentials: dict[str, Any]
    ) -> WebhookConfig:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
        errors = url_setting_errors(settings, "url")
        if problems := _secret_errors(credentials.get("secret")):
            errors["credentials.secret"] = problems
        raise_for(errors)
        return WebhookConfig(secret=credentials["secret"], url=settings.get("url") or "")

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """POST the signed document; any 2xx is a success."""
        url = webhook_target_url(recipient, self.config.url)
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
                "webhook-signature": sign(self.config.secret, idempotency_key, timestamp, body),
            },
        )
        if 200 <= response.status_code < 300:
            return SendResult(
                provider_message_id=idempotency_key, response_code=response.status_code
            )
        raise http_error(response, "webhook")
