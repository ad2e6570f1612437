from __future__ import annotations

import pytest

from connectors.base import PermanentError, Recipient, RenderedMessage, TransientError
from connectors.slack import SlackConnector, slack_text


def slack(server, path="/services/T000/B000/XXXX") -> SlackConnector:
    return SlackConnector({"url": f"{server.url}{path}"}, {})


def test_slack_posts_text_with_bold_subject_and_link(http_server, recipient):
    # given Slack answers 200 "ok"
    http_server.respond(200, body="ok")
    message = RenderedMessage(
        subject="Deploy <prod> & co", body="All green", cta_url="https://ci.example/run/1"
    )

    # when
    result = slack(http_server).send(message, recipient, idempotency_key="k")

    # then
    [request] = http_server.wait_for(1)
    assert request.url_path == "/services/T000/B000/XXXX"
    assert request.json() == {
        "text": "*Deploy &lt;prod&gt; &amp; co*\nAll green\n<https://ci.example/run/1|Open>"
    }
    assert result.response_code == 200


def test_slack_uses_the_subscriber_webhook_url(http_server, message):
    http_server.respond(200, body="ok")
    recipient = Recipient("u", credentials={"webhook_url": f"{http_server.url}/services/own"})

    slack(http_server).send(message, recipient, idempotency_key="k")

    assert http_server.wait_for(1)[0].url_path == "/services/own"


def test_slack_text_without_subject_or_link():
    assert slack_text(RenderedMessage(body="hi")) == "hi"


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "invalid_payload", PermanentError),
        (403, "action_prohibited", PermanentError),
        (404, "channel_not_found", PermanentError),
        (410, "channel_is_archived", PermanentError),
        (429, "rate_limited", TransientError),
        (500, "rollup_error", TransientError),
        (503, "service_unavailable", TransientError),
    ],
)
def test_slack_error_classes(http_server, message, recipient, status, code, error):
    http_server.respond(status, body=code)

    with pytest.raises(error) as caught:
        slack(http_server).send(message, recipient, idempotency_key="k")

    assert caught.value.response_code == status
    assert code in str(caught.value)
    assert "XXXX" not in str(caught.value)  # the webhook URL is a secret


def test_slack_network_failure_is_transient(http_server, message, recipient):
    connector = slack(http_server)
    http_server.stop()

    with pytest.raises(TransientError):
        connector.send(message, recipient, idempotency_key="k")


def test_slack_validate_config(refused_fields):
    SlackConnector.validate_config({}, {})
    SlackConnector.validate_config({"url": "https://hooks.slack.com/services/T/B/X"}, {})
    assert refused_fields(SlackConnector, {"url": "hooks.slack.com", "link_text": ""}, {}) == {
        "settings.url",
        "settings.link_text",
    }


def test_slack_settings_are_typed_and_keep_the_url_out_of_reprs():
    connector = SlackConnector({"url": "https://hooks.slack.com/services/T/B/secret"}, {})

    assert connector.config.link_text == "Open"
    assert "secret" not in repr(connector.config)
