"""The outbound-destination guard at connect time: every tenant-steered connection.

Each connector is built while private destinations are allowed (as when its host name still
resolved to a public address when it was saved), then the setting is turned off: the host
`localhost` now resolves to loopback, as a DNS-rebound name would. The connection must be
refused before it is made: the local fake server sees no connection at all. The same send
with private destinations allowed reaches the fake, so each test can fail.
"""

from __future__ import annotations

import json

import pytest
from py_vapid import Vapid

from connectors.base import (
    DestinationRefused,
    Recipient,
    RenderedMessage,
    checked_addresses,
    connect_checked,
    destination_field_errors,
    is_public_address,
)
from connectors.registry import build_connector, get_connector_class
from tests.push_clients import browser, service_account_for

WEBHOOK_SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("192.168.1.10", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("not-an-ip", False),
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_public_addresses(address, public):
    assert is_public_address(address) is public


def test_names_are_resolved_and_every_address_checked(settings):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = False

    with pytest.raises(DestinationRefused, match="not a public address"):
        checked_addresses("localhost", 25)
    # A decimal spelling of 127.0.0.1 is resolved like any name.
    with pytest.raises(DestinationRefused):
        checked_addresses("2130706433", 80)


def test_allowed_private_destinations_connect(settings, http_server):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = True

    with connect_checked("localhost", http_server.port, 2.0) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        assert sock.recv(12).endswith(b" 200")

    assert http_server.connections == 1


def test_save_time_errors_name_the_field(settings):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = False

    errors = destination_field_errors(
        {"url": "http://169.254.169.254/latest", "host": "10.0.0.1", "other": "http://10.0.0.2"},
        urls=("url",),
        hosts=("host",),
    )

    assert set(errors) == {"settings.url", "settings.host"}


# --- connect time: each connector ------------------------------------------------------------


def _smtp(server, **settings):
    config = {"host": "localhost", "port": server.port, "from_email": "no-reply@acme.example"}
    return build_connector("smtp", {**config, **settings}, {})


@pytest.mark.parametrize("allowed", [True, False])
@pytest.mark.parametrize("tls", [{}, {"use_ssl": True}, {"use_tls": True}])
def test_smtp_connects_only_to_checked_addresses(
    settings, smtp_server, message, recipient, allowed, tls
):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = True
    connector = _smtp(smtp_server, **tls)
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = allowed

    if allowed:
        try:
            connector.send(message, recipient, idempotency_key="k-1")
        except Exception:  # noqa: BLE001 - the plain-text fake cannot speak TLS
            assert tls
        assert smtp_server.connections == 1
    else:
        with pytest.raises(DestinationRefused, match="smtp: .*not a public address"):
            connector.send(message, recipient, idempotency_key="k-1")
        assert smtp_server.connections == 0


def _http_connectors(server):
    """(name, connector, recipient) for each HTTP connector aimed at `localhost`."""
    base = f"http://localhost:{server.port}"
    vapid = Vapid()
    vapid.generate_keys()
    account = service_account_for("demo-project")
    push_browser = browser(server)
    push_browser.endpoint = push_browser.endpoint.replace("127.0.0.1", "localhost")
    return [
        ("slack", build_connector("slack", {"url": f"{base}/slack"}, {}), None),
        (
            "webhook",
            build_connector("webhook", {"url": f"{base}/hook"}, {"secret": WEBHOOK_SECRET}),
            None,
        ),
        (
            "slack",
            build_connector("slack", {}, {}),
            Recipient(subscriber_id="u1", credentials={"webhook_url": f"{base}/own"}),
        ),
        (
            "twilio",
            build_connector(
                "twilio",
                {"account_sid": "AC123", "from_number": "+14155550100", "base_url": base},
                {"auth_token": "t"},
            ),
            None,
        ),
        (
            "fcm",
            build_connector(
                "fcm",
                {"project_id": "demo-project", "base_url": base, "token_url": f"{base}/token"},
                {"service_account_json": json.dumps(account.info)},
            ),
            Recipient(subscriber_id="u1", credentials={"device_tokens": ["t1"]}),
        ),
        (
            "webpush",
            build_connector(
                "webpush",
                {"vapid_subject": "mailto:ops@acme.example"},
                {"vapid_private_key": vapid.private_pem().decode()},
            ),
            Recipient(
                subscriber_id="u1", credentials={"subscriptions": [push_browser.subscription]}
            ),
        ),
        (
            "anymail:postmark",
            build_connector(
                "anymail:postmark",
                {"from_email": "no-reply@acme.example", "api_url": f"{base}/postmark/"},
                {"server_token": "pm"},
            ),
            None,
        ),
    ]


@pytest.mark.parametrize("in_session", [False, True])
@pytest.mark.parametrize("index", range(7))
def test_http_connectors_refuse_a_rebound_name_before_connecting(
    settings, http_server, message, recipient, index, in_session
):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = True
    what, connector, to = _http_connectors(http_server)[index]
    to = to or Recipient(
        subscriber_id="u1", email="ada@example.com", phone="+14155552671", locale="en"
    )
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = False

    with pytest.raises(DestinationRefused, match="not a public address") as refused:
        if in_session:
            with connector.session():
                connector.send(message, to, idempotency_key="k-1")
        else:
            connector.send(message, to, idempotency_key="k-1")

    assert str(refused.value).startswith(what.split(":")[0])
    assert http_server.connections == 0


@pytest.mark.parametrize("index", range(7))
def test_http_connectors_reach_an_allowed_private_destination(
    settings, http_server, message, index
):
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = True
    _, connector, to = _http_connectors(http_server)[index]
    to = to or Recipient(subscriber_id="u1", email="ada@example.com", phone="+14155552671")

    try:
        connector.send(message, to, idempotency_key="k-1")
    except Exception:  # noqa: BLE001 - the fake's default answer is not every provider's
        pass

    assert http_server.connections >= 1


def test_a_proxied_request_checks_the_url_before_sending(settings, http_server, monkeypatch):
    # With a proxy the socket goes to the proxy: the URL's own host is checked first.
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = True
    connector = build_connector("slack", {"url": "http://localhost:9/slack"}, {})
    monkeypatch.setenv("HTTP_PROXY", http_server.url)
    monkeypatch.setenv("NO_PROXY", "")
    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = False

    with pytest.raises(DestinationRefused):
        connector.send(
            RenderedMessage(body="hi"),
            Recipient(subscriber_id="u1"),
            idempotency_key="k-1",
        )

    assert http_server.connections == 0


def test_every_connector_with_a_tenant_destination_declares_it():
    declared = {
        key: (get_connector_class(key).destination_urls, get_connector_class(key).destination_hosts)
        for key in ("smtp", "anymail:postal", "twilio", "webhook", "slack", "fcm")
    }

    assert declared == {
        "smtp": ((), ("host",)),
        "anymail:postal": (("api_url", "endpoint_url"), ()),
        "twilio": (("base_url",), ()),
        "webhook": (("url",), ()),
        "slack": (("url",), ()),
        "fcm": (("base_url", "token_url"), ()),
    }
