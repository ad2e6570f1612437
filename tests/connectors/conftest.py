"""Connector test helpers: messages, recipients, short provider timeouts. No database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.base import ConfigError, Connector, Recipient, RenderedMessage


@pytest.fixture
def message() -> RenderedMessage:
    return RenderedMessage(
        subject="Your order shipped",
        body="<p>Order <b>A-1</b> is on its way.</p>",
        text_body="Order A-1 is on its way.",
        cta_url="https://shop.example/orders/A-1",
        data={"order_id": "A-1", "items": 2},
    )


@pytest.fixture
def sms() -> RenderedMessage:
    return RenderedMessage(body="Your code is 123456")


@pytest.fixture
def recipient() -> Recipient:
    return Recipient(
        subscriber_id="user-1",
        email="ada@example.com",
        phone="+14155552671",
        locale="en",
    )


@pytest.fixture
def short_timeouts(settings):
    """Provider timeouts small enough for a test to wait them out."""
    settings.PROVIDER_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    return settings


@pytest.fixture
def refused_fields() -> Callable[[type[Connector], dict[str, Any], dict[str, Any]], set[str]]:
    """`refused_fields(cls, settings, credentials)`: the fields `validate_config` names.

    Fails the test when `validate_config` accepts the configuration.
    """

    def refused(
        cls: type[Connector], settings: dict[str, Any], credentials: dict[str, Any]
    ) -> set[str]:
        with pytest.raises(ConfigError) as caught:
            cls.validate_config(settings, credentials)
        return set(caught.value.fields)

    return refused
