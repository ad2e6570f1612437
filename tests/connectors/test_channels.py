from __future__ import annotations

import pytest

from connectors.channels import CHANNELS, CHOICES, LABELS, PROVIDER_CHANNELS, Channel
from connectors.registry import registry


def test_the_channel_vocabulary():
    assert [c.value for c in CHANNELS] == ["email", "sms", "push", "chat", "in_app"]
    assert CHOICES == (
        ("email", "Email"),
        ("sms", "SMS"),
        ("push", "Push"),
        ("chat", "Chat"),
        ("in_app", "In-app"),
    )
    assert set(LABELS) == set(Channel)
    assert Channel.IN_APP.label == "In-app"
    assert Channel.IN_APP not in PROVIDER_CHANNELS


def test_a_channel_is_its_string_value():
    assert Channel("sms") is Channel.SMS
    assert Channel.EMAIL == "email"
    assert f"{Channel.PUSH}" == "push"
    with pytest.raises(ValueError):
        Channel("fax")


def test_every_connector_declares_a_provider_channel_from_the_vocabulary():
    for key, cls in registry.classes().items():
        assert isinstance(cls.channel, Channel), key
        assert cls.channel in PROVIDER_CHANNELS, key
    assert {cls.channel for cls in registry.classes().values()} == set(PROVIDER_CHANNELS)
