"""Push through the Web Push protocol (`webpush`) with pywebpush.

RFC 8030 (the protocol), RFC 8292 (VAPID) and RFC 8291 (aes128gcm message encryption).
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any

import requests
from py_vapid import Vapid, Vapid01
from pywebpush import WebPushException, webpush

from connectors.base import (
    REQUIRED,
    ConnectorError,
    DestinationRefused,
    Recipient,
    RenderedMessage,
    SendResult,
    TransientError,
    credential,
    is_http_url,
    provider_timeout,
    raise_for,
    redact,
    setting,
)
from connectors.channels import Channel
from connectors.devices import DeviceOutcome, fan_out, recipient_devices
from connectors.http import HttpConnector, guarded_session, is_transient_status, status_error
from connectors.registry import register

URGENCIES = ("very-low", "low", "normal", "high")
MAX_TTL = 28 * 24 * 3600  # push services keep a message at most about four weeks


def _vapid_key(value: Any) -> Vapid01:
    """A VAPID private key from PEM or base64url (raw 32 bytes or DER).

    NOTE: never a file path, unlike pywebpush's own argument: this is tenant input.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("empty key")
    if "-----BEGIN" in value:
        return Vapid.from_pem(value.strip().encode())
    return Vapid.from_string(private_key=value.strip())


DEFAULT_TTL = 86400


@dataclass(frozen=True)
class WebPushConfig:
    vapid_subject: str = setting(help="mailto: or https: contact for push services.")
    vapid_key: Vapid01 = credential(
        key="vapid_private_key", multiline=True, help="The VAPID private key (PEM or base64url)."
    )
    ttl: int = setting(DEFAULT_TTL, help="Seconds a push service keeps an undelivered message.")
    # Empty: the push service's default (normal).
    urgency: str = setting("", choices=URGENCIES, help="Blank: the push service's default.")


@register
class WebPushConnector(HttpConnector):
    """The Web Push protocol (RFC 8030) with VAPID (RFC 8292) and aes128gcm (RFC 8291).

    settings: `vapid_subject` (`mailto:` or `https:` contact), optional `ttl` (seconds the
    push service keeps an undelivered message, default 86400), optional `urgency`
    (very-low, low, normal, high); credentials: `vapid_private_key` (PEM or base64url).
    Subscriber credentials (key `webpush`): `{"subscriptions": [{"endpoint": ..., "keys":
    {"p256dh": ..., "auth": ...}}]}` (the browser's PushSubscription.toJSON()). Payload: JSON
    `{"title", "body", "url", "data", "delivery_id"}`.
    """

    key = "webpush"
    channel = Channel.PUSH
    config_class = WebPushConfig
    credentials_key = "webpush"
    config: WebPushConfig

    @classmethod
    def validate_config(
        cls, settings: dict[str, Any], credentials: dict[str, Any]
    ) -> WebPushConfig:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
        errors: dict[str, list[str]] = {}
        subject = settings.get("vapid_subject")
        if not subject:
            errors["settings.vapid_subject"] = [REQUIRED]
        elif not isinstance(subject, str) or not (
            (subject.startswith("mailto:") and "@" in subject) or subject.startswith("https://")
        ):
            errors["settings.vapid_subject"] = ["Enter a mailto: address or an https: URL."]
        ttl = settings.get("ttl")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL
        ):
            errors["settings.ttl"] = [f"Enter an integer number of seconds, 0 to {MAX_TTL}."]
        if settings.get("urgency") is not None and settings["urgency"] not in URGENCIES:
            errors["settings.urgency"] = [f"Use one of: {', '.join(URGENCIES)}."]
        key = credentials.get("vapid_private_key")
        vapid = None
        if not key:
            errors["credentials.vapid_private_key"] = [REQUIRED]
        else:
            try:
                vapid = _vapid_key(key)
            except (ValueError, TypeError, binascii.Error):
                errors["credentials.vapid_private_key"] = [
                    "Enter the VAPID private key: PEM, or base64url of the raw key or DER."
                ]
        raise_for(errors)
        return WebPushConfig(
            vapid_subject=subject,
            vapid_key=vapid,
            ttl=DEFAULT_TTL if ttl is None else ttl,
            urgency=settings.get("urgency") or "",
        )

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Encrypt and POST the payload to each of the subscriber's push subscriptions."""
        subscriptions = recipient_devices(
            recipient, "subscriptions", "webpush: the subscriber has no push subscriptions"
        )
        config = self.config
        payload = json.dumps(
            {
                "title": message.subject,
                "body": message.body,
                "url": message.cta_url,
                "data": message.data,
                "delivery_id": idempotency_key,
            },
            separators=(",", ":"),
            default=str,
        )
        headers = {"Urgency": config.urgency} if config.urgency else None

        def send_one(subscription: Any) -> DeviceOutcome:
            endpoint = subscription.get("endpoint") if isinstance(subscription, dict) else None
            if not is_http_url(endpoint):
                return None
            try:
                response = webpush(
                    subscription_info=subscription,
                    data=payload,
                    vapid_private_key=config.vapid_key,
                    # A fresh dict each time: pywebpush writes `aud` and `exp` into it.
                    vapid_claims={"sub": config.vapid_subject},
                    ttl=config.ttl,
                    headers=headers,
                    content_encoding="aes128gcm",
                    timeout=provider_timeout(),
                    requests_session=http,
                )
            except DestinationRefused as exc:
                return DestinationRefused(f"webpush: {exc}")
            except WebPushException as exc:
                return _webpush_error(exc)
            except requests.Timeout:
                return TransientError("webpush: timed out")
            except requests.ConnectionError:
                return TransientError("webpush: connection failed")
            except (ValueError, TypeError, KeyError, binascii.Error):
                # Malformed subscription keys: this browser's subscription is unusable.
                return None
            return response.headers.get("Location") or idempotency_key

        # Every push endpoint goes through the destination guard, in a session or not.
        http = self._http or guarded_session()
        try:
            return fan_out("webpush", subscriptions, send_one)
        finally:
            if http is not self._http:
                http.close()


def _webpush_error(exc: WebPushException) -> ConnectorError | None:
    """None when the subscription is gone; otherwise the error for the whole delivery."""
    status = exc.status_code
    if status is None:
        # pywebpush refused the subscription itself (missing or invalid keys).
        return None
    # https://datatracker.ietf.org/doc/html/rfc8030#section-6.2 (404/410: expired or gone).
    # 400 and 403 concern one subscription too: a malformed or foreign one (subscribed with
    # another application server key).
    if status in (400, 403, 404, 410):
        return None
    text = f"webpush: HTTP {status}"
    if not is_transient_status(status):
        # 401 VAPID refused, 413 payload too large: the same for every device.
        if detail := redact(getattr(exc.response, "text", "") or "", 80):
            text += f" {detail}"
    return status_error(status, text, exc.retry_after)
