"""What only the real web server shows: chunked request bodies, requests gunicorn itself
refuses, and URLs as a server decodes them. gunicorn runs with docker/gunicorn.conf.py on
127.0.0.1, against the test database; the data written is committed (tenant `wonka`)."""

from __future__ import annotations

import http.client
import json
import socket

import pytest
from django.conf import settings

from notifications.models import InboxMessage, Subscriber
from tests.conftest import worker_env
from tests.platform_core.test_outages import WebServer


@pytest.fixture(scope="module")
def web(test_tenants):
    server = WebServer(worker_env(), "edges")
    yield server
    server.stop()


def chunked_post(web, path: str, chunks, *, host: str, key: str):
    """POST `chunks` with `Transfer-Encoding: chunked` and no Content-Length; (status,
    headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        connection.request(
            "POST",
            path,
            body=iter(chunks),
            headers={
                "Host": host,
                "Authorization": f"ApiKey {key}",
                "Content-Type": "application/json",
            },
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def raw_request(web, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library cleans them); (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", web.port), timeout=30) as client:
        client.sendall(request)
        received = b""
        while chunk := client.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def test_a_chunked_body_is_read(web, live, unique):
    body = json.dumps({"subscriber_id": f"chunked-{unique}", "email": f"{unique}@example.com"})
    chunks = [body[:10].encode(), body[10:25].encode(), body[25:].encode()]

    status, _, content = chunked_post(
        web, "/api/v1/subscribers", chunks, host=live.host, key=live.key
    )

    assert status == 201, content
    assert json.loads(content)["email"] == f"{unique}@example.com"
    assert Subscriber.objects.get(subscriber_id=f"chunked-{unique}").email == (
        f"{unique}@example.com"
    )


def test_a_chunked_body_over_the_limit_is_a_413_and_nothing_is_written(web, live, unique):
    limit = settings.API_MAX_BODY_BYTES
    padding = "x" * (limit + 1024)
    body = json.dumps({"subscriber_id": f"big-{unique}", "data": {"padding": padding}}).encode()
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]

    status, headers, content = chunked_post(
        web, "/api/v1/subscribers", chunks, host=live.host, key=live.key
    )

    assert status == 413
    assert headers["Content-Type"] == "application/json"
    assert json.loads(content)["error"]["code"] == "payload_too_large"
    assert not Subscriber.objects.filter(subscriber_id=f"big-{unique}").exists()


@pytest.mark.parametrize(
    "header",
    [
        b"X-Note: a\x01b",  # a control character in a value
        b"X Note: spaced name",  # not a token
        b"Content-Length: ten",
    ],
)
def test_a_request_gunicorn_refuses_gets_the_json_envelope(web, live, header):
    status, headers, body = raw_request(
        web,
        b"GET /api/v1/subscribers HTTP/1.1\r\nHost: "
        + live.host.encode()
        + b"\r\n"
        + header
        + b"\r\nConnection: close\r\n\r\n",
    )

    assert status == 400
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "bad_request"
    assert error["message"].startswith("The request is malformed")


def test_a_nul_in_the_query_is_a_400_through_the_server(web, live):
    status, headers, body = web.request(
        "GET", "/api/v1/subscribers?email=a%00b", host=live.host, key=live.key
    )

    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert body["error"]["code"] == "invalid_characters"


def test_a_legacy_subscriber_id_with_a_slash_is_read_and_erased_percent_encoded(web, live, unique):
    # given a subscriber stored before the id rule, directly in the database
    legacy = Subscriber.objects.create(subscriber_id=f"org/{unique}", email="old@example.com")
    InboxMessage.objects.create(subscriber=legacy, title="Hi", body="Hello")
    path = f"/api/v1/subscribers/org%2F{unique}"

    status, _, body = web.request("GET", path, host=live.host, key=live.key)
    assert status == 200 and body["subscriber_id"] == f"org/{unique}"

    status, _, _ = web.request("DELETE", path, host=live.host, key=live.key)
    assert status == 204
    assert not Subscriber.objects.filter(pk=legacy.pk).exists()
    assert not InboxMessage.objects.filter(subscriber_id=legacy.pk).exists()
