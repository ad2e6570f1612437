"""Push: Firebase Cloud Messaging HTTP v1 (`fcm`) and the Web Push protocol (`webpush`).

A subscriber may have several devices (FCM tokens) or browsers (Web Push subscriptions);
a delivery goes to each. One success makes the delivery sent (retrying it would duplicate
the notification on that device); when every token or subscription is gone the error is
permanent; otherwise a transient failure is retried.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import service_account
from py_vapid import Vapid, Vapid01
from pywebpush import WebPushException, webpush

from connectors.base import (
    REQUIRED,
    ConfigError,
    ConnectorError,
    HttpConnector,
    PermanentError,
    Recipient,
    RenderedMessage,
    SendResult,
    TransientError,
    destination_error,
    http_error,
    is_http_url,
    is_transient_status,
    json_object,
    provider_timeout,
    redact,
    status_error,
    url_setting_errors,
)
from connectors.registry import register

FCM_API = "https://fcm.googleapis.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


_Device = TypeVar("_Device")

# What sending to one device gave: its message id; None when this token or subscription is
# gone for good; or the error, transient (retry the delivery) or permanent (the same for
# every device, so the others are not tried).
_DeviceOutcome = str | ConnectorError | None


def _devices(recipient: Recipient, key: str, none_error: str) -> list[Any]:
    """The subscriber's non-empty device tokens or subscriptions; PermanentError if none."""
    devices = [d for d in recipient.credentials.get(key) or [] if d]
    if not devices:
        raise PermanentError(none_error)
    return devices


def _fan_out(
    what: str, devices: list[_Device], send_one: Callable[[_Device], _DeviceOutcome]
) -> SendResult:
    """Send to each device; one success makes the delivery sent (see the module docstring)."""
    sent: list[str] = []
    transient: list[TransientError] = []
    fatal: ConnectorError | None = None
    for device in devices:
        outcome = send_one(device)
        if isinstance(outcome, str):
            sent.append(outcome)
        elif isinstance(outcome, TransientError):
            transient.append(outcome)
        elif outcome is not None:
            fatal = outcome
            break
    if sent:
        return SendResult(provider_message_id=sent[0], response_code=200)
    if fatal is not None:
        raise fatal
    if transient:
        waits = [e.retry_after for e in transient if e.retry_after is not None]
        first = transient[0]
        raise TransientError(
            str(first), response_code=first.response_code, retry_after=max(waits, default=None)
        )
    raise PermanentError(
        f"{what}: all {len(devices)} of the subscriber's devices are unregistered or refused"
    )


def _fcm_reserved(key: str) -> bool:
    # https://firebase.google.com/docs/cloud-messaging/concept-options#data_messages
    return key in ("from", "notification", "message_type") or key.startswith(("google", "gcm"))


def _string_data(message: RenderedMessage, idempotency_key: str) -> dict[str, str]:
    """FCM `data` takes string values only: other JSON values are serialised."""
    data = {
        str(k): v if isinstance(v, str) else json.dumps(v, default=str)
        for k, v in message.data.items()
        if not _fcm_reserved(str(k))
    }
    data["clarion_delivery"] = idempotency_key
    if message.cta_url:
        data.setdefault("cta_url", message.cta_url)
    return data


# --- fcm -------------------------------------------------------------------------------------


class _TokenEndpointError(Exception):
    def __init__(self, status: int, error: str, retry_after: str | None):
        super().__init__(f"token endpoint answered {status}")
        self.status, self.error, self.retry_after = status, error, retry_after


class _TokenRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with our timeouts and without its retry loop.

    google-auth retries a failing token endpoint with sleeps in between; a worker must not
    sleep (retries are scheduled), so any non-200 answer is raised at once.
    """

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        response = super().__call__(
            url, method=method, body=body, headers=headers, timeout=provider_timeout(), **kwargs
        )
        if response.status != 200:
            try:
                error = str(json.loads(response.data).get("error", ""))
            except (ValueError, AttributeError):
                error = ""
            raise _TokenEndpointError(response.status, error, response.headers.get("Retry-After"))
        return response


# Access tokens live an hour: one set of credentials per service account and token URL per
# process, refreshed only when expired (google-auth's `valid` allows for clock skew).
@dataclass
class _CachedCredentials:
    credentials: service_account.Credentials
    refresh_lock: threading.Lock = field(default_factory=threading.Lock)


_credentials_cache: dict[str, _CachedCredentials] = {}
_cache_lock = threading.Lock()


def _service_account_info(value: Any) -> dict[str, Any]:
    info = json.loads(value) if isinstance(value, str) else value
    if not isinstance(info, dict):
        raise ValueError("not a JSON object")
    return info


def _cache_key(service_account_json: Any, token_url: str) -> str:
    info = _service_account_info(service_account_json)
    return hashlib.sha256(json.dumps([info, token_url], sort_keys=True).encode()).hexdigest()


def _cached_credentials(service_account_json: Any, token_url: str) -> _CachedCredentials:
    key = _cache_key(service_account_json, token_url)
    with _cache_lock:
        entry = _credentials_cache.get(key)
        if entry is None:
            info = _service_account_info(service_account_json)
            entry = _credentials_cache[key] = _CachedCredentials(
                service_account.Credentials.from_service_account_info(
                    {**info, "token_uri": token_url}, scopes=[FCM_SCOPE]
                )
            )
    return entry


def _forget_credentials(service_account_json: Any, token_url: str) -> None:
    key = _cache_key(service_account_json, token_url)
    with _cache_lock:
        _credentials_cache.pop(key, None)


@register
class FcmConnector(HttpConnector):
    """Firebase Cloud Messaging HTTP v1: one `messages:send` call per device token.

    settings: `project_id`, `base_url` (default https://fcm.googleapis.com), `token_url`
    (default https://oauth2.googleapis.com/token); credentials: `service_account_json` (the
    service-account key, a JSON string or object). Subscriber credentials (key `fcm`):
    `{"device_tokens": [...]}`.
    https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send
    """

    key = "fcm"
    channel = "push"
    credentials_key = "fcm"

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Raise ConfigError naming every invalid setting or credential."""
        errors: dict[str, list[str]] = {}
        project_id = settings.get("project_id")
        if not project_id:
            errors["settings.project_id"] = [REQUIRED]
        elif not isinstance(project_id, str) or "/" in project_id:
            errors["settings.project_id"] = ["Enter the Firebase project id."]
        errors.update(url_setting_errors(settings, "base_url", "token_url"))
        raw = credentials.get("service_account_json")
        if not raw:
            errors["credentials.service_account_json"] = [REQUIRED]
        else:
            try:
                info = _service_account_info(raw)
                if info.get("type") != "service_account":
                    raise ValueError("type is not service_account")
                service_account.Credentials.from_service_account_info(
                    {**info, "token_uri": settings.get("token_url") or GOOGLE_TOKEN_URL},
                    scopes=[FCM_SCOPE],
                )
            except (ValueError, TypeError, KeyError):
                errors["credentials.service_account_json"] = [
                    "Paste the service account's JSON key (type service_account, with "
                    "client_email and private_key)."
                ]
        if errors:
            raise ConfigError(errors)

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Send to each of the subscriber's device tokens; returns the first FCM message name."""
        tokens = _devices(recipient, "device_tokens", "fcm: the subscriber has no device tokens")
        access_token = self._access_token()
        base_url = (self.settings.get("base_url") or FCM_API).rstrip("/")
        url = f"{base_url}/v1/projects/{quote(self.settings['project_id'], safe='')}/messages:send"
        notification = {"title": message.subject, "body": message.body}
        data = _string_data(message, idempotency_key)

        def send_one(token: str) -> _DeviceOutcome:
            try:
                response = self._post(
                    url,
                    what="fcm",
                    json={"message": {"token": token, "notification": notification, "data": data}},
                    headers={"Authorization": f"Bearer {access_token}"},
                )
            except TransientError as exc:
                return exc
            if response.status_code == 200:
                return str(json_object(response).get("name", ""))
            return self._classify(response)

        return _fan_out("fcm", tokens, send_one)

    def _token_url(self) -> str:
        return self.settings.get("token_url") or GOOGLE_TOKEN_URL

    def _access_token(self) -> str:
        entry = _cached_credentials(self.credentials["service_account_json"], self._token_url())
        credentials = entry.credentials
        if credentials.valid:
            return credentials.token
        http = self._http or requests.Session()
        try:
            # One refresh at a time per service account; others wait, then reuse the token.
            with entry.refresh_lock:
                if not credentials.valid:
                    credentials.refresh(_TokenRequest(http))
        except _TokenEndpointError as exc:
            what = f"fcm: token endpoint HTTP {exc.status}" + (
                f" ({exc.error})" if exc.error else ""
            )
            # Permanent for invalid_grant, unauthorized_client...: the key is revoked or wrong.
            raise status_error(exc.status, what, exc.retry_after) from None
        except google.auth.exceptions.TransportError:
            raise TransientError("fcm: token endpoint unreachable") from None
        except google.auth.exceptions.RefreshError as exc:
            raise PermanentError(f"fcm: token refresh failed ({redact(exc, 120)})") from None
        finally:
            if http is not self._http:
                http.close()
        return credentials.token

    def _classify(self, response: requests.Response) -> ConnectorError | None:
        """None when this token is bad; otherwise the error for the whole delivery."""
        status = response.status_code
        error = json_object(response).get("error")
        if not isinstance(error, dict):
            error = {}
        fcm_code = next(
            (
                d.get("errorCode")
                for d in error.get("details") or []
                if isinstance(d, dict) and d.get("errorCode")
            ),
            "",
        )
        # https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode
        if fcm_code in ("UNREGISTERED", "SENDER_ID_MISMATCH") or status == 404:
            return None
        if status == 400 and (fcm_code or error.get("status")) == "INVALID_ARGUMENT":
            return None
        detail = fcm_code or str(error.get("status") or "")
        if status == 401 and fcm_code != "THIRD_PARTY_AUTH_ERROR":
            # Our access token was refused: drop it so the retry fetches a new one.
            _forget_credentials(self.credentials["service_account_json"], self._token_url())
            return TransientError(f"fcm: HTTP 401 {detail}".strip(), response_code=401)
        return http_error(response, "fcm", detail)


# --- webpush ---------------------------------------------------------------------------------

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
    channel = "push"
    credentials_key = "webpush"

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Raise ConfigError naming every invalid setting or credential."""
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
        if not key:
            errors["credentials.vapid_private_key"] = [REQUIRED]
        else:
            try:
                _vapid_key(key)
            except (ValueError, TypeError, binascii.Error):
                errors["credentials.vapid_private_key"] = [
                    "Enter the VAPID private key: PEM, or base64url of the raw key or DER."
                ]
        if errors:
            raise ConfigError(errors)

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Encrypt and POST the payload to each of the subscriber's push subscriptions."""
        subscriptions = _devices(
            recipient, "subscriptions", "webpush: the subscriber has no push subscriptions"
        )
        vapid = _vapid_key(self.credentials["vapid_private_key"])
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
        headers = {"Urgency": self.settings["urgency"]} if self.settings.get("urgency") else None

        def send_one(subscription: Any) -> _DeviceOutcome:
            endpoint = subscription.get("endpoint") if isinstance(subscription, dict) else None
            if not is_http_url(endpoint):
                return None
            reason = destination_error(endpoint)
            if reason:
                return PermanentError(f"webpush: {reason}")
            try:
                response = webpush(
                    subscription_info=subscription,
                    data=payload,
                    vapid_private_key=vapid,
                    # A fresh dict each time: pywebpush writes `aud` and `exp` into it.
                    vapid_claims={"sub": self.settings["vapid_subject"]},
                    ttl=int(self.settings.get("ttl", 86400)),
                    headers=headers,
                    content_encoding="aes128gcm",
                    timeout=provider_timeout(),
                    requests_session=self._http,
                )
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

        return _fan_out("webpush", subscriptions, send_one)


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
