from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from connectors.base import PermanentError, Recipient, TransientError
from connectors.registry import build_connector
from connectors.twilio import TwilioConnector

SID = "AC0123456789abcdef0123456789abcdef"
FROM = "+14155550100"
TO = "+14155552671"


def twilio(server, **settings) -> TwilioConnector:
    config = {"account_sid": SID, "from_number": FROM, "base_url": server.url, **settings}
    return build_connector("twilio", config, {"auth_token": "tw-token"})


def twilio_created(sid="SM0123456789abcdef0123456789abcdef"):
    return {"sid": sid, "status": "queued", "to": TO, "from": FROM}


def test_twilio_posts_the_message_form_with_basic_auth(http_server, sms, recipient):
    # given
    http_server.respond(201, twilio_created())

    # when
    result = twilio(http_server).send(sms, recipient, idempotency_key="acme-5")

    # then
    [request] = http_server.wait_for(1)
    assert request.method == "POST"
    assert request.url_path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form() == {"To": [TO], "From": [FROM], "Body": ["Your code is 123456"]}
    assert request.basic_auth() == (SID, "tw-token")
    assert request.headers["I-Twilio-Idempotency-Token"] == "acme-5"
    assert result.provider_message_id == "SM0123456789abcdef0123456789abcdef"
    assert result.response_code == 201


def test_twilio_base_url_with_a_path_prefix_is_honoured(http_server, sms, recipient):
    http_server.respond(201, twilio_created())

    twilio(http_server, base_url=f"{http_server.url}/compat/").send(
        sms, recipient, idempotency_key="k"
    )

    [request] = http_server.wait_for(1)
    assert request.url_path == f"/compat/2010-04-01/Accounts/{SID}/Messages.json"


def test_twilio_status_callback_is_sent_when_configured(http_server, sms, recipient):
    http_server.respond(201, twilio_created())

    twilio(http_server, status_callback="https://clarion.example/hooks/twilio").send(
        sms, recipient, idempotency_key="k"
    )

    assert http_server.wait_for(1)[0].form()["StatusCallback"] == [
        "https://clarion.example/hooks/twilio"
    ]


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("30", 30.0), (None, None)],
)
def test_twilio_429_is_transient_with_retry_after(
    http_server, sms, recipient, retry_after, expected
):
    headers = {"Retry-After": retry_after} if retry_after else {}
    http_server.respond(429, {"code": 20429, "message": "Too Many Requests"}, headers)

    with pytest.raises(TransientError) as caught:
        twilio(http_server).send(sms, recipient, idempotency_key="k")

    assert caught.value.response_code == 429
    assert caught.value.retry_after == expected


def test_twilio_429_retry_after_as_an_http_date(http_server, sms, recipient):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    http_server.respond(429, {"code": 20429}, {"Retry-After": when})

    with pytest.raises(TransientError) as caught:
        twilio(http_server).send(sms, recipient, idempotency_key="k")

    assert 100 < caught.value.retry_after <= 120


@pytest.mark.parametrize("status", [500, 502, 503])
def test_twilio_5xx_is_transient(http_server, sms, recipient, status):
    http_server.respond(status, {"code": 20500, "message": "Internal Server Error"})

    with pytest.raises(TransientError) as caught:
        twilio(http_server).send(sms, recipient, idempotency_key="k")

    assert caught.value.response_code == status


def test_twilio_400_is_permanent_with_the_code_but_not_the_number(http_server, sms, recipient):
    # given Twilio's error quotes the number
    http_server.respond(
        400,
        {
            "code": 21211,
            "message": f"The 'To' number {TO} is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        },
    )

    # when
    with pytest.raises(PermanentError) as caught:
        twilio(http_server).send(sms, recipient, idempotency_key="k")

    # then
    text = str(caught.value)
    assert caught.value.response_code == 400
    assert "21211" in text
    assert "not a valid phone number" in text
    assert TO not in text and "4155552671" not in text
    assert "123456" not in text  # nor the message body


@pytest.mark.parametrize("status", [401, 403, 404])
def test_twilio_other_4xx_is_permanent(http_server, sms, recipient, status):
    http_server.respond(status, {"code": 20003, "message": "Authenticate"})

    with pytest.raises(PermanentError):
        twilio(http_server).send(sms, recipient, idempotency_key="k")


def test_twilio_timeout_is_transient(http_server, short_timeouts, sms, recipient):
    # given the API answers later than the read timeout (0.3 s)
    http_server.respond(201, twilio_created(), delay=2.0)

    # when / then
    with pytest.raises(TransientError, match="timed out"):
        twilio(http_server).send(sms, recipient, idempotency_key="k")
    assert len(http_server.requests) == 1


def test_twilio_connection_refused_is_transient(http_server, sms, recipient):
    connector = twilio(http_server)
    http_server.stop()

    with pytest.raises(TransientError, match="connection failed"):
        connector.send(sms, recipient, idempotency_key="k")


def test_twilio_a_session_reuses_one_connection(http_server, sms, recipient):
    http_server.respond(201, twilio_created())
    connector = twilio(http_server)

    with connector.session() as session:
        for i in range(3):
            session.send(sms, recipient, idempotency_key=str(i))

    assert len(http_server.wait_for(3)) == 3
    assert http_server.connections == 1


@pytest.mark.parametrize("phone", [None, "", "0612345678", "+1"])
def test_twilio_recipient_without_a_usable_phone_is_permanent(http_server, sms, phone):
    with pytest.raises(PermanentError):
        twilio(http_server).send(sms, Recipient("u", phone=phone), idempotency_key="k")

    assert http_server.requests == []


@pytest.mark.parametrize(
    ("settings", "credentials", "bad"),
    [
        ({}, {}, {"settings.account_sid", "settings.from_number", "credentials.auth_token"}),
        (
            {"account_sid": SID, "from_number": "4155550100"},
            {"auth_token": "t"},
            {"settings.from_number"},
        ),
        (
            {"account_sid": SID, "from_number": "+1415555010"},  # one digit short
            {"auth_token": "t"},
            {"settings.from_number"},
        ),
        (
            {"account_sid": SID, "from_number": FROM, "base_url": "ftp://twilio"},
            {"auth_token": "t"},
            {"settings.base_url"},
        ),
        (
            {"account_sid": "AC/../x", "from_number": FROM},
            {"auth_token": "t"},
            {"settings.account_sid"},
        ),
    ],
)
def test_twilio_validate_config_names_every_bad_field(refused_fields, settings, credentials, bad):
    assert refused_fields(TwilioConnector, settings, credentials) == bad


def test_twilio_validate_config_accepts_the_default_base_url():
    TwilioConnector.validate_config({"account_sid": SID, "from_number": FROM}, {"auth_token": "t"})


def test_twilio_settings_are_typed_and_keep_the_token_out_of_reprs():
    connector = build_connector(
        "twilio",
        {"account_sid": SID, "from_number": FROM, "base_url": "https://relay.example/"},
        {"auth_token": "tw-secret"},
    )

    assert connector.config.base_url == "https://relay.example"
    assert connector.config.status_callback == ""
    assert "tw-secret" not in repr(connector.config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        connector.config.account_sid = "other"
