"""The tenant admin in a real browser: what operators and marketers see and click."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import (
    Delivery,
    DeliveryStatus,
    Integration,
    Notification,
    Route,
    Subscriber,
    Template,
)
from tests.conftest import ApiClient
from tests.notifications.pipeline_helpers import make_workflow, smtp_integration, wait_until

CHART_DATA = """(name) => {
    const chart = window.clarionCharts && window.clarionCharts[name];
    if (!chart || Chart.getChart("chart-" + name) !== chart) return null;
    return {
        labels: chart.data.labels,
        datasets: chart.data.datasets.map((d) => ({label: d.label, data: d.data})),
        width: chart.width,
        height: chart.height,
    };
}"""


def chart_count(chart, channel_label: str, status_label: str) -> int:
    column = chart["labels"].index(channel_label)
    for dataset in chart["datasets"]:
        if dataset["label"] == status_label:
            return dataset["data"][column]
    return 0


def db_count(channel: str, status: str, since) -> int:
    return Delivery.objects.filter(channel=channel, status=status, created_at__gte=since).count()


def add_deliveries(unique: str, channel: str, status: str, n: int, created_at) -> None:
    notification = Notification.objects.create(
        event=f"dashboard.{unique}",
        priority="normal",
        transaction_id=f"dash-{unique}-{channel}-{status}-{created_at.timestamp()}",
        request_hash="h",
        created_at=created_at,
    )
    Delivery.objects.bulk_create(
        Delivery(
            notification=notification,
            step_index=index,
            channel=channel,
            priority="normal",
            status=status,
            created_at=created_at,
            updated_at=created_at,
        )
        for index in range(n)
    )


def test_the_dashboard_charts_count_deliveries_per_channel_and_status(logged_in, unique):
    page = logged_in
    now = timezone.now()
    day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
    before = {
        ("day", "push", "bounced"): db_count("push", "bounced", day_ago),
        ("week", "push", "bounced"): db_count("push", "bounced", week_ago),
        ("day", "chat", "dead"): db_count("chat", "dead", day_ago),
        ("week", "chat", "dead"): db_count("chat", "dead", week_ago),
    }
    # given: push bounces today and three days ago; a chat dead letter; one 9 days old
    add_deliveries(unique, "push", "bounced", 3, now - timedelta(minutes=5))
    add_deliveries(unique, "push", "bounced", 4, now - timedelta(days=3))
    add_deliveries(unique, "chat", "dead", 2, now - timedelta(hours=2))
    add_deliveries(unique, "chat", "dead", 5, now - timedelta(days=9))

    # when
    page.goto("/admin/")
    page.wait_for_function("() => window.clarionCharts && window.clarionCharts.week")
    page.steps.shot("dashboard")

    # then: the charts Chart.js drew hold the counts, 24 h and 7 days apart
    day = page.evaluate(CHART_DATA, "day")
    week = page.evaluate(CHART_DATA, "week")
    assert day is not None and week is not None
    assert day["width"] > 100 and week["height"] > 100
    assert chart_count(day, "Push", "Bounced") == before[("day", "push", "bounced")] + 3
    assert chart_count(week, "Push", "Bounced") == before[("week", "push", "bounced")] + 7
    assert chart_count(day, "Chat", "Dead") == before[("day", "chat", "dead")] + 2
    assert chart_count(week, "Chat", "Dead") == before[("week", "chat", "dead")] + 2
    # the dead letters link to the filtered delivery list
    page.click("#dashboard-problems a[href*='channel__exact=chat'][href*='status__exact=dead']")
    page.wait_for_url("**/admin/notifications/delivery/**")
    page.steps.shot("dead chat deliveries")
    assert "status__exact=dead" in page.url
    assert (
        page.locator("#result_list tbody tr").count()
        == Delivery.objects.filter(channel="chat", status="dead").count()
    )
    assert page.problems == []


def test_an_operator_edits_a_route(logged_in, unique):
    page = logged_in
    event = make_workflow(unique, [{"channel": "in_app", "body": "Hi"}])
    route = Route.objects.get(event=event)

    page.goto("/admin/notifications/route/")
    page.steps.shot("routes")
    page.click(f"text={event}")
    page.wait_for_url(f"**/route/{route.pk}/change/")
    page.select_option("#id_priority", "high")
    page.uncheck("#id_active")
    page.fill("#id_max_attempts", "3")
    page.steps.shot("route edited")
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/notifications/route/")
    page.steps.shot("saved")

    route.refresh_from_db()
    assert (route.priority, route.active, route.max_attempts) == ("high", False, 3)
    assert f"{event} → wf-{unique}" in page.inner_text(".messagelist")
    assert page.problems == []


def test_a_marketer_writes_a_template_with_two_variants_and_sends_a_test(
    logged_in, unique, smtp_server
):
    page = logged_in
    smtp_integration(smtp_server)
    Subscriber.objects.create(subscriber_id=f"ada-{unique}", email="ada@example.com",
                              first_name="Ada")  # fmt: skip
    key = f"welcome-{unique}"

    page.goto("/admin/notifications/template/add/")
    page.fill("#id_key", key)
    page.select_option("#id_channel", "email")
    page.fill("#id_subject", "Welcome {{ subscriber.first_name }}")
    page.fill("#id_body", "<p>Hello {{ subscriber.first_name }}, order {{ payload.order }}.</p>")
    for index, (name, subject) in enumerate((("short", "Hi!"), ("long", "A long hello"))):
        page.click("#variants-group .add-row a")
        page.fill(f"#id_variants-{index}-name", name)
        page.fill(f"#id_variants-{index}-weight", "1")
        page.fill(f"#id_variants-{index}-subject", subject + " {{ subscriber.first_name }}")
        page.fill(f"#id_variants-{index}-body", "<p>" + "Long body text. " * 40 + "</p>")
    page.steps.shot("template with two variants")
    # the variant editor fits a 1280 px window: nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.click("input[name=_continue]")
    page.wait_for_url("**/change/")
    template = Template.objects.get(key=key)
    assert sorted(template.variants.values_list("name", flat=True)) == ["long", "short"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280

    # when: a test of the "short" variant to the subscriber
    page.fill("#send-test-to", f"ada-{unique}")
    page.select_option("#send-test-variant", "short")
    page.fill("#send-test-payload", json.dumps({"order": "A-1"}))
    page.steps.shot("send a test")
    page.click("#send-test input[type=submit]")
    page.wait_for_selector(".messagelist")
    page.steps.shot("test sent")

    # then: it arrived at the SMTP server, rendered as a send would render it
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Hi! Ada"
    assert "Test of" in page.inner_text(".messagelist")
    assert page.problems == []


@pytest.mark.worker
def test_an_operator_replays_a_dead_delivery_and_it_is_sent(
    logged_in, unique, smtp_server, celery_worker, in_browser_tenant
):
    page = logged_in
    smtp_integration(smtp_server)
    event = make_workflow(unique, [{"channel": "email", "subject": "Order", "body": "<p>Hi</p>"}])
    Subscriber.objects.create(subscriber_id=f"bob-{unique}", email="bob@example.com")
    smtp_server.reject_next(1, code=550)
    api = ApiClient(in_browser_tenant.tenant.host, in_browser_tenant.tenant.key)
    response = api.post("/api/v1/events/trigger", {"event": event, "to": [f"bob-{unique}"]})
    assert response.status_code == 202, response.content
    notification_id = response.json()["notification_id"]
    delivery = wait_until(
        lambda: Delivery.objects.filter(
            notification_id=notification_id, status=DeliveryStatus.DEAD
        ).first(),
        what="the delivery to be dead-lettered",
    )
    assert smtp_server.messages == []

    page.goto(f"/admin/notifications/delivery/{delivery.pk}/change/")
    page.steps.shot("dead delivery")
    assert "Dead" in page.inner_text(".field-status")
    page.click("#replay-button")
    page.wait_for_selector(".messagelist")
    page.steps.shot("replayed")
    assert f"Delivery {delivery.pk} re-queued." in page.inner_text(".messagelist")

    [message] = smtp_server.wait_for(1, timeout=30)
    assert message["To"] == "bob@example.com"
    wait_until(
        lambda: Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT,
        what="the replayed delivery to be sent",
    )
    page.reload()
    page.steps.shot("sent")
    assert "Sent" in page.inner_text(".field-status")
    assert "replayed" in page.inner_text("#events-group")
    assert page.locator("#replay-button").count() == 0
    assert page.problems == []


def test_an_operator_adds_an_smtp_integration_and_sends_a_test(logged_in, smtp_server):
    page = logged_in
    Integration.objects.filter(channel="email").update(active=False)

    page.goto("/admin/notifications/integration/add/")
    page.select_option("#id_provider", "smtp")
    page.steps.shot("choose the provider")
    page.click("input[type=submit]")
    page.wait_for_selector("#id_settings__host")
    page.fill("#id_name", "Local relay")
    page.fill("#id_settings__host", smtp_server.host)
    page.fill("#id_settings__port", str(smtp_server.port))
    page.fill("#id_settings__from_email", "ops@browser.test")
    page.fill("#id_credentials__password", "")
    page.steps.shot("smtp settings")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.click("input[name=_continue]")
    page.wait_for_url(re.compile(r"/integration/\d+/change/"))
    integration = Integration.objects.get(name="Local relay")
    assert integration.settings["port"] == smtp_server.port

    page.fill("#send-test-to", "ops@example.com")
    page.click("#send-test input[type=submit]")
    page.wait_for_selector(".messagelist")
    page.steps.shot("test sent")

    [message] = smtp_server.wait_for(1)
    assert message["To"] == "ops@example.com"
    assert "Test sent to ops@example.com" in page.inner_text(".messagelist")
    assert page.problems == []


def add_variant_deliveries(unique: str, key: str, variant: str, statuses: dict[str, int]) -> None:
    """Deliveries of template `key`'s `variant` that reached each of `statuses`."""
    notification = Notification.objects.create(
        event=f"ab.{unique}",
        priority="normal",
        transaction_id=f"ab-{unique}-{variant}",
        request_hash="h",
    )
    Delivery.objects.bulk_create(
        Delivery(
            notification=notification,
            step_index=0,
            channel="email",
            priority="normal",
            status=status,
            template_key=key,
            variant=variant,
        )
        for status, n in statuses.items()
        for _ in range(n)
    )


def test_a_marketer_sees_which_variant_wins_as_a_chart(logged_in, unique):
    page = logged_in
    key = f"ab-{unique}"
    template = Template.objects.create(
        key=key, channel="email", subject="Hi", body="<p>Hi {{ subscriber.first_name }}</p>"
    )
    for name in ("control", "bold"):
        template.variants.create(name=name, subject=name, body=f"<p>{name}</p>")
    # given: control clicked by 20 of 400, bold by 60 of 400 (p far below 0.05)
    add_variant_deliveries(unique, key, "control", {"sent": 380, "clicked": 20})
    add_variant_deliveries(unique, key, "bold", {"sent": 340, "clicked": 60})

    # when the template's page is opened
    page.goto(f"/admin/notifications/template/{template.pk}/change/")
    chart = page.locator("svg.ab-chart")
    chart.scroll_into_view_if_needed()
    page.steps.shot("a/b results")

    # then: one bar per variant, bold's the longer, and bold named the winner
    bars = chart.locator("rect")
    assert bars.count() == 2
    widths = [float(bars.nth(i).get_attribute("width")) for i in range(2)]
    labels = [chart.locator("text").nth(i * 2).text_content() for i in range(2)]
    by_name = dict(zip(labels, widths, strict=True))
    assert by_name["bold"] > 2.5 * by_name["control"] > 0
    assert chart.bounding_box()["width"] > 100
    assert "Winner: bold" in page.inner_text(".ab-results + p")
    assert {"15.0%", "5.0%"} <= set(chart.locator("text").all_text_contents())
    assert page.problems == []
