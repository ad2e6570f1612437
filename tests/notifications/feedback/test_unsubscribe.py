"""One-click unsubscribe (RFC 8058): the List-Unsubscribe URL of an email that reached a fake
SMTP server turns that workflow's email off for its subscriber, and the next one is skipped."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pytest
from django.core import signing
from django.test import Client

from notifications.models import Delivery, Subscriber, Workflow
from notifications.pipeline.feedback.unsubscribe import unsubscribe_headers, unsubscribe_token
from tests.notifications.pipeline_helpers import (
    make_workflow,
    notification_done,
    smtp_integration,
    wait_until,
)

ONE_CLICK = "List-Unsubscribe=One-Click"


def trigger(api, event: str, subscriber_id: str) -> str:
    response = api.post(
        "/api/v1/events/trigger",
        {"event": event, "to": [subscriber_id], "payload": {"order_id": "A-1"}},
    )
    assert response.status_code == 202, response.content
    return response.json()["notification_id"]


def https_link(header: str) -> str:
    [url] = [u for u in re.findall(r"<([^>]+)>", header) if u.startswith("https://")]
    return url


@pytest.mark.worker
def test_one_click_post_from_the_email_turns_the_workflow_email_off(
    celery_worker, live, live_api, smtp_server, unique
):
    # given: an email of a non-critical workflow arrived
    smtp_integration(smtp_server)
    event = make_workflow(unique, [{"channel": "email"}])
    subscriber_id = f"u-{unique}"
    Subscriber.objects.create(subscriber_id=subscriber_id, email=f"{subscriber_id}@example.com")
    first = trigger(live_api, event, subscriber_id)
    [message] = smtp_server.wait_for(1, timeout=30)
    assert message["List-Unsubscribe-Post"] == ONE_CLICK
    url = https_link(message["List-Unsubscribe"])
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.hostname == live.host

    # when: the page is shown, then the mail client's one-click POST
    browser = Client(HTTP_HOST=parts.hostname)
    page = browser.get(parts.path)
    assert page.status_code == 200
    assert b'method="post"' in page.content and b"Unsubscribe" in page.content
    assert Subscriber.objects.get(subscriber_id=subscriber_id).preferences == {}
    response = browser.post(parts.path, ONE_CLICK, content_type="application/x-www-form-urlencoded")

    # then: the preference is off, the next email of that workflow is skipped
    assert response.status_code == 200 and b"unsubscribed" in response.content
    workflow = Workflow.objects.get(notification__id=first)
    preferences = Subscriber.objects.get(subscriber_id=subscriber_id).preferences
    assert preferences["workflows"] == {workflow.key: {"email": False}}
    second = trigger(live_api, event, subscriber_id)
    wait_until(lambda: notification_done(second), what="fan-out")
    delivery = Delivery.objects.get(notification_id=second)
    assert delivery.status == "skipped"
    assert len(smtp_server.messages) == 1
    # and: a repeated POST changes nothing and still confirms
    again = browser.post(parts.path, ONE_CLICK, content_type="application/x-www-form-urlencoded")
    assert again.status_code == 200


@pytest.mark.worker
def test_critical_email_has_no_list_unsubscribe(celery_worker, live, live_api, smtp_server, unique):
    smtp_integration(smtp_server)
    event = make_workflow(unique, [{"channel": "email"}], critical=True)
    subscriber_id = f"c-{unique}"
    Subscriber.objects.create(subscriber_id=subscriber_id, email=f"{subscriber_id}@example.com")
    trigger(live_api, event, subscriber_id)
    [message] = smtp_server.wait_for(1, timeout=30)
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_or_altered_token_is_404_and_changes_nothing(in_acme, acme, method):
    Subscriber.objects.create(subscriber_id="ada", email="ada@example.com")
    token = unsubscribe_token(subscriber_id="ada", workflow_key="news", channel="email")
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    browser = Client(HTTP_HOST=acme.host)
    unsalted = signing.dumps(["ada", "news", "email"], compress=True)
    for bad in (altered, "forged", unsalted):
        response = getattr(browser, method)(f"/u/{bad}")
        assert response.status_code == 404
        assert b"not valid" in response.content
    assert Subscriber.objects.get(subscriber_id="ada").preferences == {}


def test_a_token_of_another_tenant_is_404(in_acme, globex):
    token = unsubscribe_token(subscriber_id="ada", workflow_key="news", channel="email")
    response = Client(HTTP_HOST=globex.host).post(f"/u/{token}")
    assert response.status_code == 404


def test_the_mailto_is_offered_when_configured(in_acme, acme, settings):
    settings.UNSUBSCRIBE_MAILTO = "unsubscribe@acme.example"
    headers = unsubscribe_headers(subscriber_id="ada", workflow_key="news", channel="email")
    links = re.findall(r"<([^>]+)>", headers["List-Unsubscribe"])
    assert links[0].startswith(f"https://{acme.host}/u/")
    assert links[1].startswith("mailto:unsubscribe@acme.example?subject=unsubscribe%20")
    token = links[0].rsplit("/", 1)[1]
    assert unquote(links[1].split("subject=", 1)[1]) == f"unsubscribe {token}"
    assert headers["List-Unsubscribe-Post"] == ONE_CLICK
