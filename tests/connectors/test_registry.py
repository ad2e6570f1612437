from __future__ import annotations

import pytest

from connectors.base import ConfigError, Connector
from connectors.chat import SlackConnector, WebhookConnector
from connectors.email import AnymailConnector, SmtpConnector
from connectors.push import FcmConnector, WebPushConnector
from connectors.registry import (
    UnknownProvider,
    build_connector,
    get_connector_class,
    providers_for,
    register,
)
from connectors.sms import ConsoleSmsConnector, TwilioConnector


@pytest.mark.parametrize(
    ("provider", "cls", "channel"),
    [
        ("smtp", SmtpConnector, "email"),
        ("twilio", TwilioConnector, "sms"),
        ("console", ConsoleSmsConnector, "sms"),
        ("webhook", WebhookConnector, "chat"),
        ("slack", SlackConnector, "chat"),
        ("fcm", FcmConnector, "push"),
        ("webpush", WebPushConnector, "push"),
    ],
)
def test_builtin_providers_resolve_to_their_classes(provider, cls, channel):
    assert get_connector_class(provider) is cls
    assert cls.channel == channel
    assert provider in providers_for(channel)


def test_providers_for_lists_each_channel():
    assert providers_for("email") == ["anymail", "smtp"]
    assert providers_for("sms") == ["console", "twilio"]
    assert providers_for("chat") == ["slack", "webhook"]
    assert providers_for("push") == ["fcm", "webpush"]


@pytest.mark.parametrize("esp", ["postmark", "sendgrid", "mailgun", "amazon_ses", "resend"])
def test_anymail_esp_resolves_to_a_subclass_bound_to_the_esp(esp):
    cls = get_connector_class(f"anymail:{esp}")

    assert issubclass(cls, AnymailConnector)
    assert cls.esp == esp
    assert cls.channel == "email"
    assert get_connector_class(f"anymail:{esp}") is cls  # one class per ESP


@pytest.mark.parametrize(
    "provider",
    ["nope", "anymail", "anymail:", "anymail:unknownesp", "anymail:base", "anymail:test"],
)
def test_unknown_providers_are_refused(provider):
    with pytest.raises(UnknownProvider):
        get_connector_class(provider)
    with pytest.raises(UnknownProvider):
        build_connector(provider, {}, {})


def test_register_refuses_a_duplicate_key():
    # given a class claiming a key that is taken
    class Impostor(Connector):
        key = "smtp"
        channel = "email"

    # when / then
    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
    assert get_connector_class("smtp") is SmtpConnector


def test_build_connector_instantiates_with_settings_and_credentials():
    connector = build_connector(
        "twilio",
        {"account_sid": "AC123", "from_number": "+14155552671"},
        {"auth_token": "secret"},
    )

    assert isinstance(connector, TwilioConnector)
    assert connector.settings["account_sid"] == "AC123"
    assert connector.credentials == {"auth_token": "secret"}


def test_build_connector_passes_the_esp_through_the_class():
    connector = build_connector(
        "anymail:postmark", {"from_email": "noreply@acme.example"}, {"server_token": "t"}
    )

    assert isinstance(connector, AnymailConnector)
    assert connector.esp == "postmark"


def test_build_connector_refuses_an_invalid_configuration():
    with pytest.raises(ConfigError) as caught:
        build_connector("smtp", {"host": "", "port": "x"}, {})

    assert {"settings.host", "settings.port", "settings.from_email"} <= set(caught.value.fields)


def test_anymail_base_class_takes_the_esp_as_a_constructor_argument():
    connector = AnymailConnector(
        {"from_email": "noreply@acme.example"}, {"api_key": "k"}, esp="sendgrid"
    )
    assert connector.esp == "sendgrid"

    with pytest.raises(ValueError):
        AnymailConnector({}, {}, esp="unknownesp")
