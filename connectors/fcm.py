"""Push through Firebase Cloud Messaging HTTP v1 (`fcm`): one call per device token.

https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import service_account

from connectors.base import (
    REQUIRED,
    ConnectorError,
    DestinationRefused,
    PermanentError,
    Recipient,
    RenderedMessage,
    SendResult,
    TransientError,
    credential,
    provider_timeout,
    raise_for,
    redact,
    setting,
    url_setting_errors,
)
from connectors.channels import Channel
from connectors.devices import DeviceOutcome, fan_out, recipient_devices
from connectors.http import (
    HttpConnector,
    guarded_session,
    http_error,
    json_object,
    status_error,
)
from connectors.registry import register

FCM_API = "https://fcm.googleapis.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


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


def _cache_key(info: Mapping[str, Any], token_url: str) -> str:
    return hashlib.sha256(json.dumps([dict(info), token_url], sort_keys=True).encode()).hexdigest()


def _cached_credentials(info: Mapping[str, Any], token_url: str) -> _CachedCredentials:
    key = _cache_key(info, token_url)
    with _cache_lock:
        entry = _credentials_cache.get(key)
        if entry is None:
            entry = _credentials_cache[key] = _CachedCredentials(
                service_account.Credentials.from_service_account_info(
                    {**info, "token_uri": token_url}, scopes=[FCM_SCOPE]
                )
            )
    return entry


def _forget_credentials(info: Mapping[str, Any], token_url: str) -> None:
    key = _cache_key(info, token_url)
    with _cache_lock:
        _credentials_cache.pop(key, None)


@dataclass(frozen=True)
class FcmConfig:
    project_id: str = setting(help="The Firebase project id.")
    # The service-account key, parsed from its JSON.
    service_account_info: Mapping[str, Any] = credential(
        key="service_account_json",
        multiline=True,
        help="The service account's JSON key file, pasted whole.",
    )
    base_url: str = setting(FCM_API, help="FCM's API (change only for a test double).")
    token_url: str = setting(GOOGLE_TOKEN_URL, help="Google's OAuth2 token endpoint.")


@register
class FcmConnector(HttpConnector):
    """Firebase Cloud Messaging HTTP v1: one `messages:send` call per device token.

    settings: `project_id`, `base_url` (default https://fcm.googleapis.com), `token_url`
    (default https://oauth2.googleapis.com/token); credentials: `service_account_json` (the
    service-account key, a JSON string or object). Subscriber credentials (key `fcm`):
    `{"device_tokens": [...]}`.
    """

    key = "fcm"
    channel = Channel.PUSH
    config_class = FcmConfig
    credentials_key = "fcm"
    destination_urls = ("base_url", "token_url")
    config: FcmConfig

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> FcmConfig:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
        errors: dict[str, list[str]] = {}
        project_id = settings.get("project_id")
        if not project_id:
            errors["settings.project_id"] = [REQUIRED]
        elif not isinstance(project_id, str) or "/" in project_id:
            errors["settings.project_id"] = ["Enter the Firebase project id."]
        errors.update(url_setting_errors(settings, "base_url", "token_url"))
        token_url = settings.get("token_url") or GOOGLE_TOKEN_URL
        raw = credentials.get("service_account_json")
        info: dict[str, Any] = {}
        if not raw:
            errors["credentials.service_account_json"] = [REQUIRED]
        else:
            try:
                info = _service_account_info(raw)
                if info.get("type") != "service_account":
                    raise ValueError("type is not service_account")
                service_account.Credentials.from_service_account_info(
                    {**info, "token_uri": token_url}, scopes=[FCM_SCOPE]
                )
            except (ValueError, TypeError, KeyError):
                errors["credentials.service_account_json"] = [
                    "Paste the service account's JSON key (type service_account, with "
                    "client_email and private_key)."
                ]
        raise_for(errors)
        return FcmConfig(
            project_id=project_id,
            service_account_info=MappingProxyType(info),
            base_url=(settings.get("base_url") or FCM_API).rstrip("/"),
            token_url=token_url,
        )

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Send to each of the subscriber's device tokens; returns the first FCM message name."""
        tokens = recipient_devices(
            recipient, "device_tokens", "fcm: the subscriber has no device tokens"
        )
        access_token = self._access_token()
        config = self.config
        url = f"{config.base_url}/v1/projects/{quote(config.project_id, safe='')}/messages:send"
        notification = {"title": message.subject, "body": message.body}
        data = _string_data(message, idempotency_key)

        def send_one(token: str) -> DeviceOutcome:
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

        return fan_out("fcm", tokens, send_one)

    def _access_token(self) -> str:
        entry = _cached_credentials(self.config.service_account_info, self.config.token_url)
        credentials = entry.credentials
        if credentials.valid:
            return credentials.token
        http = self._http or guarded_session()
        try:
            # One refresh at a time per service account; others wait, then reuse the token.
            with entry.refresh_lock:
                if not credentials.valid:
                    credentials.refresh(_TokenRequest(http))
        except DestinationRefused as exc:
            raise DestinationRefused(f"fcm: token endpoint: {exc}") from None
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
            _forget_credentials(self.config.service_account_info, self.config.token_url)
            return TransientError(f"fcm: HTTP 401 {detail}".strip(), response_code=401)
        return http_error(response, "fcm", detail)
