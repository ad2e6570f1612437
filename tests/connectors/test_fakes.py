"""The fakes themselves: a test double that lies would make every connector test lie."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
import requests


def test_http_plans_are_consumed_in_order_then_fall_back(http_server):
    # given
    http_server.respond(503, times=1)
    http_server.respond(429, {"slow": "down"}, {"Retry-After": "3"}, times=1)
    http_server.respond(200, {"token": "t"}, path_prefix="/token")

    # when
    statuses = [requests.post(f"{http_server.url}/api", timeout=5).status_code for _ in range(3)]
    token = requests.post(f"{http_server.url}/token", timeout=5)

    # then
    assert statuses == [503, 429, 200]
    assert token.json() == {"token": "t"}
    assert len(http_server.wait_for(4)) == 4


def test_http_counted_plan_only_matches_its_path(http_server):
    http_server.respond(500, times=1, path_prefix="/v1/")

    assert requests.get(f"{http_server.url}/other", timeout=5).status_code == 200
    assert requests.get(f"{http_server.url}/v1/x", timeout=5).status_code == 500
    assert requests.get(f"{http_server.url}/v1/x", timeout=5).status_code == 200


def test_http_records_method_path_headers_and_body(http_server):
    requests.post(
        f"{http_server.url}/p?q=1",
        data={"a": "1", "b": "two"},
        auth=("user", "pw"),
        headers={"X-Thing": "yes"},
        timeout=5,
    )

    [request] = http_server.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/p?q=1"
    assert request.url_path == "/p"
    assert request.query == {"q": "1"}
    assert request.headers["x-thing"] == "yes"
    assert request.form() == {"a": ["1"], "b": ["two"]}
    assert request.basic_auth() == ("user", "pw")


def test_http_raw_body_and_reset(http_server):
    http_server.respond(200, body="ok")
    assert requests.post(http_server.url, timeout=5).text == "ok"

    http_server.reset()

    assert http_server.requests == []
    assert requests.post(http_server.url, timeout=5).json() == {}


def test_http_wait_for_times_out(http_server):
    with pytest.raises(TimeoutError):
        http_server.wait_for(1, timeout=0.1)


def test_smtp_records_parsed_messages_and_plans(smtp_server):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@x.example", "b@y.example", "Hi"
    message.set_content("hello")

    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        smtp_server.fail_next(1)
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.send_message(message)
        client.send_message(message)

    [received] = smtp_server.wait_for(1)
    assert received["Subject"] == "Hi"
    assert received.get_content().strip() == "hello"
    assert smtp_server.connections == 1

    smtp_server.reset()
    assert smtp_server.messages == [] and smtp_server.connections == 0
