from __future__ import annotations

import dataclasses
import socket

import pytest

from connectors.base import PermanentError, Recipient, RenderedMessage, TransientError
from connectors.mail import message_id_for
from connectors.registry import build_connector
from connectors.smtp import SmtpConnector
from tests.fakes import FakeSmtpServer

FROM = "Acme <noreply@acme.example>"


def smtp_for(server, credentials=None, **settings) -> SmtpConnector:
    config = {"host": server.host, "port": server.port, "from_email": FROM, **settings}
    return build_connector("smtp", config, credentials or {})


@pytest.fixture
def login_smtp_server():
    """A fake SMTP server that requires AUTH as mailer / s3cret."""
    with FakeSmtpServer(auth=("mailer", "s3cret")) as server:
        yield server


def test_send_delivers_text_and_html_parts_with_a_stable_message_id(
    smtp_server, message, recipient
):
    # given
    connector = smtp_for(smtp_server)

    # when
    result = connector.send(message, recipient, idempotency_key="acme-42")

    # then
    [received] = smtp_server.wait_for(1)
    assert received["Subject"] == "Your order shipped"
    assert received["To"] == "ada@example.com"
    assert received["From"] == FROM
    assert received["Message-ID"] == "<clarion.acme-42@acme.example>"
    assert received["X-Clarion-Delivery"] == "acme-42"
    assert received.get_content_type() == "multipart/alternative"
    assert received.get_body(("plain",)).get_content().strip() == "Order A-1 is on its way."
    assert "<b>A-1</b>" in received.get_body(("html",)).get_content()
    assert smtp_server.envelopes[0].rcpt_tos == ["ada@example.com"]
    assert result.provider_message_id == "<clarion.acme-42@acme.example>"
    assert result.response_code == 250


def test_the_message_id_is_the_same_for_the_same_idempotency_key():
    assert message_id_for("acme-42", FROM) == message_id_for("acme-42", FROM)
    assert message_id_for("acme-42", FROM) != message_id_for("acme-43", FROM)
    assert message_id_for("a b<c>@d", "x@y.example") == "<clarion.a-b-c-d@y.example>"


def test_html_only_message_is_sent_as_text_html(smtp_server, recipient):
    connector = smtp_for(smtp_server)

    connector.send(RenderedMessage(subject="Hi", body="<p>Hi</p>"), recipient, idempotency_key="k")

    [received] = smtp_server.wait_for(1)
    assert received.get_content_type() == "text/html"


def test_a_session_reuses_one_connection_for_every_send(smtp_server, message):
    # given
    connector = smtp_for(smtp_server)
    recipients = [Recipient(subscriber_id=f"u{i}", email=f"u{i}@example.com") for i in range(3)]

    # when
    with connector.session() as session:
        for i, recipient in enumerate(recipients):
            session.send(message, recipient, idempotency_key=f"acme-{i}")

    # then
    assert len(smtp_server.wait_for(3)) == 3
    assert smtp_server.connections == 1
    assert smtp_server.ehlo_count == 1


def test_sends_outside_a_session_use_a_connection_each(smtp_server, message, recipient):
    connector = smtp_for(smtp_server)

    connector.send(message, recipient, idempotency_key="a")
    connector.send(message, recipient, idempotency_key="b")

    assert len(smtp_server.wait_for(2)) == 2
    assert smtp_server.connections == 2


@pytest.mark.parametrize("stage", ["rcpt", "data"])
@pytest.mark.parametrize(
    ("plan", "code", "reply", "error"),
    [
        ("fail_next", 451, "4.3.0 <ada@example.com> try later", TransientError),
        ("reject_next", 550, "5.1.1 <ada@example.com> unknown", PermanentError),
    ],
    ids=["4xx-is-transient", "5xx-is-permanent"],
)
def test_a_refusal_reply_is_classified_by_its_code(
    smtp_server, message, recipient, stage, plan, code, reply, error
):
    # given the server refuses the message at RCPT or DATA
    getattr(smtp_server, plan)(1, code=code, message=reply, stage=stage)
    connector = smtp_for(smtp_server)

    # when
    with pytest.raises(error) as caught:
        connector.send(message, recipient, idempotency_key="k")

    # then
    assert caught.value.response_code == code
    assert "ada@example.com" not in str(caught.value)
    assert smtp_server.messages == []


def test_a_refused_message_does_not_spoil_the_rest_of_the_session(smtp_server, message):
    # given the second of three messages is refused
    connector = smtp_for(smtp_server)
    smtp_server.fail_next(0)
    outcomes = []

    # when
    with connector.session() as session:
        for i in range(3):
            if i == 1:
                smtp_server.reject_next(1)
            try:
                session.send(
                    message, Recipient(f"u{i}", email=f"u{i}@ex.com"), idempotency_key=str(i)
                )
                outcomes.append("sent")
            except PermanentError:
                outcomes.append("refused")

    # then
    assert outcomes == ["sent", "refused", "sent"]
    assert len(smtp_server.wait_for(2)) == 2
    assert smtp_server.connections == 1


def test_connection_refused_is_transient(message, recipient):
    # given a port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector = SmtpConnector({"host": "127.0.0.1", "port": port, "from_email": FROM}, {})

    # when / then
    with pytest.raises(TransientError, match="connection failed"):
        connector.send(message, recipient, idempotency_key="k")


def test_a_server_that_never_answers_times_out_as_transient(short_timeouts, message, recipient):
    # given a listening socket that accepts and never greets
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        connector = SmtpConnector(
            {"host": "127.0.0.1", "port": silent.getsockname()[1], "from_email": FROM}, {}
        )

        # when / then
        with pytest.raises(TransientError):
            connector.send(message, recipient, idempotency_key="k")


def test_login_with_the_right_credentials_sends(login_smtp_server, message, recipient):
    connector = smtp_for(login_smtp_server, {"username": "mailer", "password": "s3cret"})

    connector.send(message, recipient, idempotency_key="k")

    assert len(login_smtp_server.wait_for(1)) == 1


def test_an_authentication_failure_is_permanent(login_smtp_server, message, recipient):
    connector = smtp_for(login_smtp_server, {"username": "mailer", "password": "wrong"})

    with pytest.raises(PermanentError, match="authentication failed") as caught:
        connector.send(message, recipient, idempotency_key="k")

    assert caught.value.response_code == 535
    assert login_smtp_server.messages == []


@pytest.mark.parametrize("email", [None, "", "not-an-address"])
def test_a_recipient_without_a_valid_email_is_permanent(smtp_server, message, email):
    connector = smtp_for(smtp_server)

    with pytest.raises(PermanentError):
        connector.send(message, Recipient("u", email=email), idempotency_key="k")

    assert smtp_server.connections == 0


def test_validate_config_accepts_a_complete_configuration():
    SmtpConnector.validate_config(
        {"host": "smtp.example", "port": 587, "use_tls": True, "from_email": FROM},
        {"username": "u", "password": "p"},
    )


@pytest.mark.parametrize(
    ("settings", "credentials", "bad"),
    [
        ({}, {}, {"settings.host", "settings.port", "settings.from_email"}),
        ({"host": "h", "port": "abc", "from_email": FROM}, {}, {"settings.port"}),
        ({"host": "h", "port": 70000, "from_email": FROM}, {}, {"settings.port"}),
        ({"host": "h", "port": 25, "from_email": "nope"}, {}, {"settings.from_email"}),
        ({"host": "h", "port": 25, "from_email": FROM, "use_tls": "yes"}, {}, {"settings.use_tls"}),
        (
            {"host": "h", "port": 25, "from_email": FROM, "use_tls": True, "use_ssl": True},
            {},
            {"settings.use_ssl"},
        ),
        (
            {"host": "h", "port": 25, "from_email": FROM},
            {"username": "u"},
            {"credentials.password"},
        ),
    ],
)
def test_validate_config_names_every_bad_field(refused_fields, settings, credentials, bad):
    assert refused_fields(SmtpConnector, settings, credentials) == bad


def test_settings_are_typed_and_keep_the_password_out_of_reprs():
    connector = SmtpConnector(
        {"host": "smtp.example", "port": "587", "use_tls": True, "from_email": FROM},
        {"username": "u", "password": "smtp-secret"},
    )

    assert connector.config.port == 587
    assert (connector.config.use_tls, connector.config.use_ssl) == (True, False)
    assert connector.config.reply_to is None
    assert "smtp-secret" not in repr(connector.config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        connector.config.host = "elsewhere"
