from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from connectors.base import is_http_url, provider_timeout, redact, retry_after_seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("0", 0.0), (None, None), ("", None), ("soon", None), ("-5", None)],
)
def test_retry_after_seconds(value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_as_an_http_date():
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=60), usegmt=True)

    assert 50 < retry_after_seconds(later) <= 60
    assert retry_after_seconds(past) == 0.0


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
