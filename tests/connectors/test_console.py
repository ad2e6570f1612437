from __future__ import annotations

import io

from connectors.console import ConsoleSmsConnector

TO = "+14155552671"


def test_console_writes_one_masked_line_per_sms(sms, recipient):
    stream = io.StringIO()
    connector = ConsoleSmsConnector({}, {}, stream=stream)

    result = connector.send(sms, recipient, idempotency_key="acme-1")
    connector.send(sms, recipient, idempotency_key="acme-2")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "delivery=acme-1" in lines[0] and "subscriber=user-1" in lines[0]
    assert "+1********71" in lines[0]
    assert TO not in lines[0] and "123456" not in lines[0]
    assert result.provider_message_id == "console-acme-1"


def test_console_shows_the_body_when_asked(sms, recipient):
    stream = io.StringIO()

    ConsoleSmsConnector({"show_body": True}, {}, stream=stream).send(
        sms, recipient, idempotency_key="k"
    )

    assert "Your code is 123456" in stream.getvalue()


def test_console_writes_to_stdout_by_default(capsys, sms, recipient):
    ConsoleSmsConnector({}, {}).send(sms, recipient, idempotency_key="k")

    assert "[sms] delivery=k" in capsys.readouterr().out


def test_console_validate_config(refused_fields):
    ConsoleSmsConnector.validate_config({}, {})
    assert refused_fields(ConsoleSmsConnector, {"show_body": "yes"}, {}) == {"settings.show_body"}


def test_console_settings_are_typed():
    assert ConsoleSmsConnector({}, {}).config.show_body is False
    assert ConsoleSmsConnector({"show_body": True}, {}).config.show_body is True
