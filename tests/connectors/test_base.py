from __future__ import annotations

import pytest

from connectors.base import (
    PermanentError,
    Recipient,
    RenderedMessage,
    is_http_url,
    provider_timeout,
    redact,
)
from connectors.registry import build_connector


def test_redact_removes_addresses_and_numbers():
    text = redact("Invalid 'To' address 'ada@example.com' or number +1 (415) 555-2671, code 21211")

    assert "ada@example.com" not in text
    assert "555" not in text
    assert "21211" in text


def test_redact_truncates():
    assert len(redact("x" * 500, 50)) == 50


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example/x", True),
        ("http://127.0.0.1:8080/", True),
        ("ftp://files.example", False),
        ("hooks.example/x", False),
        ("https://", False),
        (None, False),
        (42, False),
    ],
)
def test_is_http_url(url, ok):
    assert is_http_url(url) is ok


def test_provider_timeout_comes_from_settings(settings):
    settings.PROVIDER_CONNECT_TIMEOUT_SECONDS = 1.5
    settings.PROVIDER_TIMEOUT_SECONDS = 9

    assert provider_timeout() == (1.5, 9.0)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/x",
        "http://localhost/hook",
    ],
)
def test_private_destinations_are_refused_unless_allowed(settings, url):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = False
    connector = build_connector("slack", {"url": url}, {})

    with pytest.raises(PermanentError, match="not a public address"):
        connector.send(
            RenderedMessage(subject="s", body="b"),
            Recipient(subscriber_id="u1"),
            idempotency_key="k-1",
        )
