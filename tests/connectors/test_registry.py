from __future__ import annotations

import subprocess
import sys

import pytest
from django.apps import apps

from connectors.anymail import AnymailConnector
from connectors.apps import ConnectorsConfig
from connectors.base import ConfigError, Connector
from connectors.console import ConsoleSmsConnector
from connectors.fcm import FcmConnector
from connectors.registry import (
    AlreadyRegistered,
    ConnectorRegistry,
    UnknownProvider,
    build_connector,
    get_connector_class,
    provider_strings_for,
    providers_for,
    register,
    registry,
)
from connectors.slack import SlackConnector
from connectors.smtp import SmtpConnector
from connectors.twilio import TwilioConnector
from connectors.webhook import WebhookConnector
from connectors.webpush import WebPushConnector


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
    assert connector.config.account_sid == "AC123"
    assert connector.config.auth_token == "secret"


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


# --- the registry itself: generic, filled by the app -----------------------------------------


class Family(Connector):
    """A connector family in the shape of `anymail`: only `family:<member>` is usable."""

    key = "family"
    channel = "chat"
    requires_variant = True
    member = ""

    @classmethod
    def variant(cls, name):
        if name not in ("one", "two"):
            raise ValueError(name)
        return type(f"Family{name.title()}", (cls,), {"member": name})

    @classmethod
    def variants(cls):
        return ("one", "two")


class Plain(Connector):
    key = "plain"
    channel = "chat"


def test_a_variant_is_resolved_by_the_class_registered_under_its_key():
    # given a registry that knows nothing but these two classes
    registry = ConnectorRegistry()
    registry.register(Family)
    registry.register(Plain)

    # then `<key>:<variant>` goes through the class's variant(), whatever the key
    assert registry.get("family:two").member == "two"
    assert registry.get("plain") is Plain
    for unknown in ("family", "family:three", "family:", "plain:x", "other", "other:one"):
        with pytest.raises(UnknownProvider):
            registry.get(unknown)
    assert registry.keys_for("chat") == ["family", "plain"]
    assert registry.provider_strings_for("chat") == ["family:one", "family:two", "plain"]


def test_the_registry_refuses_duplicates_and_keys_with_a_separator():
    registry = ConnectorRegistry()
    registry.register(Plain)

    class Again(Plain):
        pass

    class Colon(Plain):
        key = "a:b"

    with pytest.raises(AlreadyRegistered):
        registry.register(Again)
    with pytest.raises(ValueError, match="without ':'"):
        registry.register(Colon)
    assert registry.get("plain") is Plain


def test_an_empty_registry_says_the_app_is_missing():
    with pytest.raises(RuntimeError, match="INSTALLED_APPS"):
        ConnectorRegistry().get("smtp")


def test_the_app_registers_every_provider_module():
    config = apps.get_app_config("connectors")

    assert isinstance(config, ConnectorsConfig)
    registered = {cls.__module__ for cls in registry.classes().values()}
    assert set(config.provider_modules) <= registered
    assert sorted(registry.classes()) == [
        "anymail",
        "console",
        "fcm",
        "slack",
        "smtp",
        "twilio",
        "webhook",
        "webpush",
    ]


def test_the_registry_module_imports_no_provider():
    # given a fresh interpreter that imports only the registry
    code = (
        "import sys, connectors.registry; "
        "print(sorted(m for m in sys.modules if m.startswith('connectors.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    # then no provider module came with it
    assert eval(out) == ["connectors.base", "connectors.channels", "connectors.registry"]


def test_provider_strings_list_every_esp_but_not_the_bare_family():
    strings = provider_strings_for("email")

    assert "smtp" in strings
    assert {"anymail:postmark", "anymail:sendgrid", "anymail:amazon_ses"} <= set(strings)
    assert "anymail" not in strings
    assert provider_strings_for("sms") == ["console", "twilio"]
