from __future__ import annotations

import json
import time

import pytest
from google.auth import jwt

from connectors.base import PermanentError, Recipient, TransientError
from connectors.fcm import FCM_SCOPE, FcmConnector
from connectors.registry import build_connector
from tests.push_clients import ServiceAccount, service_account_for

PROJECT = "demo-project"
SEND_PATH = f"/v1/projects/{PROJECT}/messages:send"


@pytest.fixture
def service_account() -> ServiceAccount:
    """A throwaway service account with a fresh RSA key."""
    return service_account_for(PROJECT)


@pytest.fixture
def fcm_api(http_server):
    """The fake answering both Google's token endpoint and FCM's messages:send."""
    http_server.respond(
        200,
        {"access_token": "ya29.fake-token", "expires_in": 3600, "token_type": "Bearer"},
        path_prefix="/token",
    )
    http_server.respond(200, {"name": f"projects/{PROJECT}/messages/0:1"}, path_prefix="/v1/")
    return http_server


def fcm(server, service_account, as_string=True) -> FcmConnector:
    settings = {"project_id": PROJECT, "base_url": server.url, "token_url": f"{server.url}/token"}
    raw = json.dumps(service_account.info) if as_string else service_account.info
    return build_connector("fcm", settings, {"service_account_json": raw})


def devices(*tokens: str) -> Recipient:
    return Recipient("user-1", credentials={"device_tokens": list(tokens)})


def fcm_error(status: int, code: str, fcm_code: str | None = None) -> dict:
    details = (
        [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}]
        if fcm_code
        else []
    )
    return {"error": {"code": status, "message": "error", "status": code, "details": details}}


@pytest.mark.parametrize("as_string", [True, False])
def test_fcm_gets_a_token_then_sends_to_the_device(fcm_api, service_account, message, as_string):
    # when
    result = fcm(fcm_api, service_account, as_string).send(
        message, devices("device-token-1"), idempotency_key="acme-3"
    )

    # then the token request carried a JWT signed with the service account's key
    [token_request] = fcm_api.requests_to("/token")
    form = token_request.form()
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    # (google-auth always addresses the grant to Google's token endpoint, wherever it posts it)
    claims = jwt.decode(
        form["assertion"][0],
        certs=service_account.public_pem,
        audience="https://oauth2.googleapis.com/token",
    )
    assert claims["iss"] == service_account.info["client_email"]
    assert claims["scope"] == FCM_SCOPE
    # and the message went to FCM with the access token
    [send] = fcm_api.requests_to("/v1/")
    assert send.url_path == SEND_PATH
    assert send.headers["Authorization"] == "Bearer ya29.fake-token"
    assert send.json() == {
        "message": {
            "token": "device-token-1",
            "notification": {"title": "Your order shipped", "body": message.body},
            "data": {
                "order_id": "A-1",
                "items": "2",
                "clarion_delivery": "acme-3",
                "cta_url": "https://shop.example/orders/A-1",
            },
        }
    }
    assert result.provider_message_id == f"projects/{PROJECT}/messages/0:1"


def test_fcm_caches_the_access_token_until_it_expires(fcm_api, service_account, message):
    connector = fcm(fcm_api, service_account)

    connector.send(message, devices("a"), idempotency_key="1")
    fcm(fcm_api, service_account).send(message, devices("b"), idempotency_key="2")

    assert len(fcm_api.requests_to("/token")) == 1
    assert len(fcm_api.requests_to("/v1/")) == 2


def test_fcm_sends_to_every_device_and_skips_an_unregistered_one(fcm_api, service_account, message):
    # given the first token is no longer registered
    fcm_api.respond(404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"), times=1, path_prefix="/v1/")

    # when
    result = fcm(fcm_api, service_account).send(
        message, devices("stale", "fresh"), idempotency_key="k"
    )

    # then
    assert [r.json()["message"]["token"] for r in fcm_api.requests_to("/v1/")] == ["stale", "fresh"]
    assert result.provider_message_id == f"projects/{PROJECT}/messages/0:1"


@pytest.mark.parametrize(
    ("status", "code", "fcm_code"),
    [
        (404, "NOT_FOUND", "UNREGISTERED"),
        (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        (400, "INVALID_ARGUMENT", None),
        (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    ],
)
def test_fcm_all_tokens_bad_is_permanent(fcm_api, service_account, message, status, code, fcm_code):
    fcm_api.respond(status, fcm_error(status, code, fcm_code), times=2, path_prefix="/v1/")

    with pytest.raises(PermanentError, match="all 2"):
        fcm(fcm_api, service_account).send(message, devices("a", "b"), idempotency_key="k")


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [(429, "RESOURCE_EXHAUSTED", "30"), (503, "UNAVAILABLE", None), (500, "INTERNAL", None)],
)
def test_fcm_429_and_5xx_are_transient(
    fcm_api, service_account, message, status, code, retry_after
):
    headers = {"Retry-After": retry_after} if retry_after else {}
    fcm_api.respond(status, fcm_error(status, code), headers, times=1, path_prefix="/v1/")

    with pytest.raises(TransientError) as caught:
        fcm(fcm_api, service_account).send(message, devices("a"), idempotency_key="k")

    assert caught.value.response_code == status
    assert caught.value.retry_after == (float(retry_after) if retry_after else None)


def test_fcm_a_success_on_one_device_is_not_retried(fcm_api, service_account, message):
    # given the second device's call fails transiently
    fcm_api.respond(200, {"name": "projects/p/messages/1"}, times=1, path_prefix="/v1/")
    fcm_api.respond(503, fcm_error(503, "UNAVAILABLE"), times=1, path_prefix="/v1/")

    # when / then: retrying would notify the first device twice
    result = fcm(fcm_api, service_account).send(message, devices("a", "b"), idempotency_key="k")
    assert result.provider_message_id == "projects/p/messages/1"


def test_fcm_401_drops_the_cached_token(fcm_api, service_account, message):
    connector = fcm(fcm_api, service_account)
    fcm_api.respond(401, fcm_error(401, "UNAUTHENTICATED"), times=1, path_prefix="/v1/")

    with pytest.raises(TransientError):
        connector.send(message, devices("a"), idempotency_key="k")
    connector.send(message, devices("a"), idempotency_key="k")

    assert len(fcm_api.requests_to("/token")) == 2


def test_fcm_token_endpoint_refusal_is_permanent(http_server, service_account, message):
    http_server.respond(400, {"error": "invalid_grant"}, path_prefix="/token")

    with pytest.raises(PermanentError, match="invalid_grant"):
        fcm(http_server, service_account).send(message, devices("a"), idempotency_key="k")

    assert http_server.requests_to("/v1/") == []


def test_fcm_token_endpoint_outage_is_transient_without_sleeping(
    http_server, service_account, message
):
    http_server.respond(503, {"error": "temporarily_unavailable"}, path_prefix="/token")
    started = time.monotonic()

    with pytest.raises(TransientError) as caught:
        fcm(http_server, service_account).send(message, devices("a"), idempotency_key="k")

    assert caught.value.response_code == 503
    assert len(http_server.requests_to("/token")) == 1  # google-auth's own retries are off
    assert time.monotonic() - started < 1.0


def test_fcm_timeout_is_transient(fcm_api, short_timeouts, service_account, message):
    fcm_api.respond(200, {"name": "late"}, delay=2.0, times=1, path_prefix="/v1/")

    with pytest.raises(TransientError, match="timed out"):
        fcm(fcm_api, service_account).send(message, devices("a"), idempotency_key="k")


def test_fcm_without_device_tokens_is_permanent(fcm_api, service_account, message):
    with pytest.raises(PermanentError, match="no device tokens"):
        fcm(fcm_api, service_account).send(message, Recipient("u"), idempotency_key="k")

    assert fcm_api.requests == []


@pytest.mark.parametrize(
    ("settings", "credentials", "bad"),
    [
        ({}, {}, {"settings.project_id", "credentials.service_account_json"}),
        (
            {"project_id": PROJECT, "base_url": "nope", "token_url": "ftp://x"},
            {"service_account_json": "{}"},
            {"settings.base_url", "settings.token_url", "credentials.service_account_json"},
        ),
        (
            {"project_id": PROJECT},
            {"service_account_json": "not json"},
            {"credentials.service_account_json"},
        ),
        (
            {"project_id": PROJECT},
            {"service_account_json": {"type": "service_account", "client_email": "x@y"}},
            {"credentials.service_account_json"},
        ),
    ],
)
def test_fcm_validate_config_names_every_bad_field(refused_fields, settings, credentials, bad):
    assert refused_fields(FcmConnector, settings, credentials) == bad


def test_fcm_settings_are_typed_and_keep_the_key_out_of_reprs(service_account):
    connector = build_connector(
        "fcm",
        {"project_id": PROJECT, "base_url": "https://fcm.example/"},
        {"service_account_json": json.dumps(service_account.info)},
    )

    assert connector.config.base_url == "https://fcm.example"
    assert connector.config.token_url == "https://oauth2.googleapis.com/token"
    assert dict(connector.config.service_account_info) == service_account.info
    assert "PRIVATE KEY" not in repr(connector.config)
