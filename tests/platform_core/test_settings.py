"""Settings come from the environment; an enabled but misconfigured integration fails at start."""

import os
import subprocess
import sys

from tests.conftest import BASE_DIR

PROBE = (
    "import django, sentry_sdk; django.setup(); "
    "print('sentry', sentry_sdk.get_client().is_active())"
)


def run_settings(**env):
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "platform_core.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sentry_is_off_without_a_dsn():
    result = run_settings(SENTRY_DSN="")
    assert result.returncode == 0, result.stderr
    assert "sentry False" in result.stdout


def test_sentry_is_on_with_a_dsn():
    result = run_settings(SENTRY_DSN="https://publickey@127.0.0.1:9/42")
    assert result.returncode == 0, result.stderr
    assert "sentry True" in result.stdout


def test_an_invalid_sentry_dsn_fails_at_start():
    result = run_settings(SENTRY_DSN="not a dsn")
    assert result.returncode != 0
    assert "BadDsn" in result.stderr or "Unsupported scheme" in result.stderr
