"""django-anymail ESPs against the fake HTTP server standing in for each ESP's API."""

from __future__ import annotations

import pytest

from connectors.base import ConfigError, PermanentError, Recipient, TransientError
from connectors.registry import build_connector, get_connector_class

FROM = "Acme <noreply@acme.example>"

pytestmark = pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")


def anymail(esp, server, api_path, **credentials):
    """The `anymail:<esp>` connector with its API at `api_path` on the fake server."""
    return build_connector(
        f"anymail:{esp}", {"from_email": FROM, "api_url": f"{server.url}{api_path}"}, credentials
    )


def postmark(server):
    return anymail("postmark", server, "/postmark/", server_token="pm-token")


def postmark_ok(to="ada@example.com", message_id="b7bc2f4a-e38e-4336-af7d-e6c392c2f817"):
    return {
        "To": to,
        "SubmittedAt": "2026-01-01T00:00:00Z",
        "MessageID": message_id,
        "ErrorCode": 0,
        "Message": "OK",
    }


def test_postmark_sends_through_its_api(http_server, message, recipient):
    # given
    http_server.respond(200, postmark_ok())
    connector = postmark(http_server)

    # when
    result = connector.send(message, recipient, idempotency_key="acme-7")

    # then
    [request] = http_server.wait_for(1)
    assert request.method == "POST"
    assert request.url_path == "/postmark/email"
    assert request.headers["X-Postmark-Server-Token"] == "pm-token"
    body = request.json()
    assert body["To"] == "ada@example.com"
    assert body["From"] == FROM
    assert body["Subject"] == "Your order shipped"
    assert body["TextBody"] == "Order A-1 is on its way."
    assert "<b>A-1</b>" in body["HtmlBody"]
    assert {"Name": "X-Clarion-Delivery", "Value": "acme-7"} in body["Headers"]
    assert body["Metadata"] == {"clarion_delivery": "acme-7"}
    assert result.provider_message_id == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
    assert result.response_code == 200


def test_sendgrid_sends_through_its_api(http_server, message, recipient):
    # given SendGrid's v3 API answers 202 with an empty body
    http_server.respond(202)
    connector = anymail("sendgrid", http_server, "/sendgrid/v3/", api_key="SG.key")

    # when
    result = connector.send(message, recipient, idempotency_key="acme-8")

    # then
    [request] = http_server.wait_for(1)
    assert request.url_path == "/sendgrid/v3/mail/send"
    assert request.headers["Authorization"] == "Bearer SG.key"
    body = request.json()
    assert body["personalizations"][0]["to"] == [{"email": "ada@example.com"}]
    assert body["custom_args"]["clarion_delivery"] == "acme-8"
    assert body["headers"]["X-Clarion-Delivery"] == "acme-8"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    # anymail generates SendGrid's message id and sends it as a custom arg
    assert result.provider_message_id
    assert body["personalizations"][0]["custom_args"]["anymail_id"] == result.provider_message_id


def test_mailgun_sends_to_the_from_domain(http_server, message, recipient):
    http_server.respond(200, {"id": "<20260101.1@acme.example>", "message": "Queued. Thank you."})
    connector = anymail("mailgun", http_server, "/v3/", api_key="mg-key")

    result = connector.send(message, recipient, idempotency_key="acme-9")

    [request] = http_server.wait_for(1)
    assert request.url_path == "/v3/acme.example/messages"
    assert request.basic_auth() == ("api", "mg-key")
    assert result.provider_message_id == "<20260101.1@acme.example>"


def test_resend_gets_the_idempotency_key_header(http_server, message, recipient):
    http_server.respond(200, {"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})
    connector = anymail("resend", http_server, "/", api_key="re_key")

    result = connector.send(message, recipient, idempotency_key="acme-10")

    [request] = http_server.wait_for(1)
    assert request.url_path == "/emails"
    assert request.headers["Idempotency-Key"] == "acme-10"
    assert result.provider_message_id == "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"


def test_a_session_reuses_one_http_connection(http_server, message):
    http_server.respond(200, postmark_ok())
    connector = postmark(http_server)

    with connector.session() as session:
        for i in range(3):
            session.send(
                message, Recipient(f"u{i}", email=f"u{i}@example.com"), idempotency_key=str(i)
            )

    assert len(http_server.wait_for(3)) == 3
    assert http_server.connections == 1


def test_429_is_transient_and_honours_retry_after(http_server, message, recipient):
    http_server.respond(429, {"ErrorCode": 429, "Message": "Rate limit"}, {"Retry-After": "7"})

    with pytest.raises(TransientError) as caught:
        postmark(http_server).send(message, recipient, idempotency_key="k")

    assert caught.value.response_code == 429
    assert caught.value.retry_after == 7


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient(http_server, message, recipient, status):
    http_server.respond(status, {"Message": "oops"})

    with pytest.raises(TransientError) as caught:
        postmark(http_server).send(message, recipient, idempotency_key="k")

    assert caught.value.response_code == status


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_other_4xx_is_permanent(http_server, message, recipient, status):
    # given an error body quoting the address, as ESPs do
    http_server.respond(
        status, {"ErrorCode": 300, "Message": "Invalid 'To' address: 'ada@example.com'."}
    )

    # when
    with pytest.raises(PermanentError) as caught:
        postmark(http_server).send(message, recipient, idempotency_key="k")

    # then
    assert caught.value.response_code == status
    assert "ada@example.com" not in str(caught.value)


def test_a_recipient_the_esp_refuses_is_permanent(http_server, message, recipient):
    # Postmark accepts the call but will not deliver to an inactive (bounced) address.
    http_server.respond(
        200,
        {
            **postmark_ok(),
            "Message": "Message OK, but will not deliver to these inactive addresses: "
            "ada@example.com. Inactive recipients are ones that have generated a hard bounce "
            "or a spam complaint.",
        },
    )

    with pytest.raises(PermanentError, match="refused the recipient") as caught:
        postmark(http_server).send(message, recipient, idempotency_key="k")

    assert "ada@example.com" not in str(caught.value)


def test_a_timeout_is_transient(http_server, short_timeouts, message, recipient):
    http_server.respond(200, postmark_ok(), delay=2.0)

    with pytest.raises(TransientError, match="timed out"):
        postmark(http_server).send(message, recipient, idempotency_key="k")


def test_an_unreachable_api_is_transient(http_server, message, recipient):
    connector = postmark(http_server)
    http_server.stop()

    with pytest.raises(TransientError, match="network error"):
        connector.send(message, recipient, idempotency_key="k")


def test_an_invalid_address_is_permanent_without_a_call(http_server, message):
    with pytest.raises(PermanentError):
        postmark(http_server).send(message, Recipient("u", email="nope@"), idempotency_key="k")

    assert http_server.requests == []


@pytest.mark.parametrize(
    ("provider", "settings", "credentials", "bad"),
    [
        ("anymail:postmark", {}, {}, {"settings.from_email", "credentials.server_token"}),
        ("anymail:sendgrid", {"from_email": FROM}, {}, {"credentials.api_key"}),
        ("anymail:mailjet", {"from_email": FROM}, {"api_key": "k"}, {"credentials.secret_key"}),
        (
            "anymail:postal",
            {"from_email": FROM},
            {"api_key": "k"},
            {"settings.api_url"},
        ),
        (
            "anymail:resend",
            {"from_email": FROM, "api_url": "ftp://x"},
            {"api_key": "k"},
            {"settings.api_url"},
        ),
    ],
)
def test_validate_config_names_every_bad_field(
    refused_fields, provider, settings, credentials, bad
):
    assert refused_fields(get_connector_class(provider), settings, credentials) == bad


def test_validate_config_reports_a_missing_extra_package():
    # Amazon SES needs boto3 (django-anymail[amazon-ses]), which Clarion does not install.
    pytest.importorskip("anymail")
    try:
        import boto3  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("boto3 is installed")

    with pytest.raises(ConfigError) as caught:
        get_connector_class("anymail:amazon_ses").validate_config(
            {"from_email": FROM}, {"aws_access_key_id": "a", "aws_secret_access_key": "b"}
        )

    assert "boto3" in caught.value.fields["provider"][0]


def test_settings_are_typed_and_keep_the_secrets_out_of_reprs():
    connector = build_connector(
        "anymail:postmark",
        {"from_email": FROM, "message_stream": "outbound"},
        {"server_token": "pm-secret"},
    )

    assert connector.config.esp == "postmark"
    assert connector.config.from_email == FROM
    assert dict(connector.config.options) == {"message_stream": "outbound"}
    assert "pm-secret" not in repr(connector.config)
