"""`cta_url` is an absolute http(s) URL: a `javascript:` or `data:` link never reaches the inbox.

Refused on template save when the template writes the scheme; when data supplies it, the
delivery is dead with a configuration error, through the real API and a real worker.
"""

from __future__ import annotations

import pytest

from notifications.models import Delivery, InboxMessage, Template
from notifications.rendering.tracking import click_token_read
from tests.notifications.pipeline_helpers import make_workflow, wait_until


@pytest.mark.parametrize(
    "cta_url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:{{ payload.code }}",
        "data:text/html,<script>alert(1)</script>",
        "/orders/{{ payload.order_id }}",
    ],
)
def test_a_template_with_a_non_http_cta_url_is_refused_on_save(acme_api, cta_url):
    response = acme_api.post(
        "/api/v1/templates",
        {"key": "inbox", "channel": "in_app", "subject": "S", "body": "B", "cta_url": cta_url},
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "http(s)" in error["fields"]["cta_url"][0]
    assert acme_api.get("/api/v1/templates/inbox").status_code == 404


@pytest.mark.worker
def test_a_javascript_cta_url_from_data_never_reaches_the_inbox(
    celery_worker, live, live_api, unique
):
    # given: an in-app template whose link comes from the payload
    event = make_workflow(unique, [{"channel": "in_app", "body": "Hi"}])
    Template.objects.filter(key=f"tpl-{unique}-0").update(cta_url="{{ payload.url }}")
    subscriber_id = f"x-{unique}"

    # when: the payload carries a javascript: URL, and another one an https URL
    ids = {}
    for name, url in (("bad", "javascript:alert(document.cookie)"), ("good", "https://a.example/")):
        response = live_api.post(
            "/api/v1/events/trigger",
            {"event": event, "to": [subscriber_id], "payload": {"url": url}},
        )
        assert response.status_code == 202, response.content
        ids[name] = response.json()["notification_id"]

    # then: the first delivery is dead with a clear error; only the https link is in the inbox
    dead = wait_until(
        lambda: Delivery.objects.filter(notification_id=ids["bad"], status="dead").first(),
        timeout=20,
        what="the javascript: delivery to be dead",
    )
    assert "cta_url" in dead.last_error and "not 'javascript:'" in dead.last_error
    assert "alert" not in dead.last_error
    wait_until(
        lambda: Delivery.objects.filter(notification_id=ids["good"], status="sent").exists(),
        timeout=20,
        what="the https delivery to be sent",
    )
    messages = live_api.get(f"/api/v1/inbox/{subscriber_id}/messages", {"status": "all"}).json()
    # The link is tracked (the workflow's default): it leads to the https URL.
    [cta_url] = [m["cta_url"] for m in messages["results"]]
    token = cta_url.removeprefix(f"https://{live.host}/t/c/")
    assert click_token_read(token, schema=live.schema)[1] == "https://a.example/"
    assert not InboxMessage.objects.filter(cta_url__startswith="javascript").exists()
