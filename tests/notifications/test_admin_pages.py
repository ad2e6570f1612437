# ruff: noqa: F811 - the `client` fixture comes from test_admin
"""The tenant admin's pages as operators see them: dashboard, detail pages, per-provider
integration forms, test sends, error pages, labels and the platform admin's schedules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tenants.utils import schema_context

from notifications.models import (
    DeliveryEvent,
    Integration,
    Notification,
    Route,
    TopicSubscription,
)
from tenants import cache as tenant_cache
from tenants.models import Tenant
from tests.conftest import admin_login
from tests.factories import (
    IntegrationFactory,
    RouteFactory,
    SubscriberFactory,
    TemplateFactory,
    TemplateVariantFactory,
    TopicFactory,
    WorkflowFactory,
)
from tests.notifications.pipeline_helpers import smtp_integration
from tests.notifications.test_admin import ADMIN, client, form_errors, make_delivery  # noqa: F401

# --- the dashboard -----------------------------------------------------------------------------


def dashboard_charts(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="dashboard-charts" type="application/json">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def bar(chart: dict, channel_label: str, status: str) -> int:
    column = chart["labels"].index(channel_label)
    for dataset in chart["datasets"]:
        if dataset["status"] == status:
            return dataset["data"][column]
    return 0


def test_the_dashboard_counts_deliveries_per_channel_and_status_by_window(client, acme):
    now = timezone.now()
    with schema_context(acme.schema):
        for status, channel, age in (
            ("sent", "email", timedelta(hours=1)),
            ("sent", "email", timedelta(hours=2)),
            ("sent", "email", timedelta(days=2)),
            ("dead", "sms", timedelta(minutes=1)),
            ("failed", "sms", timedelta(days=3)),
            ("sent", "push", timedelta(days=8)),  # outside both windows
        ):
            make_delivery(status, channel=channel, created_at=now - age)

    response = client.get("/admin/")

    assert response.status_code == 200
    charts = dashboard_charts(response)
    day, week = charts["day"], charts["week"]
    assert (bar(day, "Email", "sent"), bar(week, "Email", "sent")) == (2, 3)
    assert (bar(day, "SMS", "dead"), bar(week, "SMS", "failed")) == (1, 1)
    assert bar(day, "SMS", "failed") == 0
    assert bar(week, "Push", "sent") == 0
    assert (day["total"], week["total"]) == (3, 5)
    html = response.content.decode()
    assert "clarion/vendor/chart-4.6.1.umd.min.js" in html


def test_the_dashboard_links_problems_to_the_filtered_delivery_list(client, acme):
    with schema_context(acme.schema):
        for _ in range(2):
            make_delivery("dead", channel="sms")
        make_delivery("failed", channel="email")
        make_delivery("sent", channel="sms")

    response = client.get("/admin/")

    problems = {
        (row["channel"], cell["status"]): (cell["n"], cell["url"])
        for row in response.context["dashboard_problems"]
        for cell in row["counts"]
    }
    n, url = problems[("SMS", "Dead")]
    assert n == 2
    assert f'href="{url.replace("&", "&amp;")}"' in response.content.decode()
    listed = client.get(url)
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == 2
    assert problems[("Email", "Failed")][0] == 1


def test_the_dashboard_shows_queue_backlog_and_recent_notifications(client, acme):
    with schema_context(acme.schema):
        make_delivery("queued", channel="email")
        make_delivery("pending", channel="email")
        make_delivery("sent", channel="email")
        Notification.objects.create(
            event="invoice.paid", priority="high", transaction_id="t-recent", request_hash="h"
        )

    response = client.get("/admin/")

    queues = {queue["name"]: queue for queue in response.context["dashboard_queues"]}
    assert (queues["Normal"]["waiting"], queues["Normal"]["scheduled"]) == (1, 1)
    assert queues["Normal"]["completed"] is None  # the dashboard does not count history
    recent = [row["notification"].event for row in response.context["dashboard_recent"]]
    assert recent[0] == "invoice.paid"
    assert "invoice.paid" in response.content.decode()


def test_the_dashboard_reads_each_figure_in_one_query(client, acme):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with schema_context(acme.schema):
        for _ in range(5):
            make_delivery("sent", channel="email")

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200

    deliveries = [q["sql"] for q in queries if 'FROM "notifications_delivery"' in q["sql"]]
    # the charts (both windows), the problems, the queue backlog
    assert len(deliveries) == 3, deliveries


# --- deliveries and notifications ------------------------------------------------------------


def test_the_delivery_page_replays_a_dead_delivery(client, acme):
    with schema_context(acme.schema):
        dead = make_delivery("dead")
        sent = make_delivery("sent")

    page = client.get(f"{ADMIN}/delivery/{dead.pk}/change/")
    assert 'id="replay-button"' in page.content.decode()
    sent_page = client.get(f"{ADMIN}/delivery/{sent.pk}/change/")
    assert 'id="replay-button"' not in sent_page.content.decode()

    response = client.post(f"{ADMIN}/delivery/{dead.pk}/replay/", follow=True)

    assert f"Delivery {dead.pk} re-queued." in response.content.decode()
    with schema_context(acme.schema):
        dead.refresh_from_db()
        assert dead.status == "queued"
        assert DeliveryEvent.objects.filter(delivery=dead, detail="replayed").exists()
    refused = client.post(f"{ADMIN}/delivery/{sent.pk}/replay/", follow=True)
    assert "was not replayed" in refused.content.decode()
    assert client.get(f"{ADMIN}/delivery/{dead.pk}/replay/").status_code == 405


def test_times_are_shown_to_the_second_in_the_tenant_time_zone(client, acme):
    Tenant.objects.filter(pk=acme.tenant.pk).update(timezone="Asia/Tokyo")
    tenant_cache.clear()  # as the platform admin does when it saves a tenant
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    with schema_context(acme.schema):
        delivery = make_delivery("sent", created_at=at)

    html = client.get(f"{ADMIN}/delivery/{delivery.pk}/change/").content.decode()

    assert "2026-03-04 14:06:07 JST" in html


def test_a_notification_shows_its_delivery_stats_with_links(client, acme):
    with schema_context(acme.schema):
        notification = Notification.objects.create(
            event="order.shipped", priority="normal", transaction_id="t-stats", request_hash="h"
        )
        for status in ("sent", "sent", "dead"):
            make_delivery(status, notification=notification)

    html = client.get(f"{ADMIN}/notification/{notification.pk}/change/").content.decode()

    assert "<td>Sent</td>" in html and "<td>Dead</td>" in html
    assert f"notification__id__exact={notification.pk}&amp;status__exact=dead" in html
    assert ">3</a>" in html


# --- labels ----------------------------------------------------------------------------------


def test_labels_are_human(client, acme):
    with schema_context(acme.schema):
        workflow = WorkflowFactory(key="order-flow", name="Orders")
        route = RouteFactory(event="order.shipped", workflow=workflow)
        subscription = TopicSubscription.objects.create(
            topic=TopicFactory(key="customers"), subscriber=SubscriberFactory(subscriber_id="ada")
        )
        assert str(route) == "order.shipped → order-flow"
        assert str(workflow) == "Orders (order-flow)"
        assert str(subscription) == "ada in customers"

    index = client.get("/admin/").content.decode()
    assert ">Deliveries<" in index and "Deliverys" not in index
    assert (
        "order.shipped → order-flow"
        in client.get(f"{ADMIN}/route/{route.pk}/change/").content.decode()
    )
    subscriptions = client.get(f"{ADMIN}/topicsubscription/").content.decode()
    assert "ada in customers" in subscriptions
    assert f">{subscription.topic_id}:{subscription.subscriber_id}<" not in subscriptions


@pytest.mark.parametrize(
    "path", ["/admin/", f"{ADMIN}/delivery/", f"{ADMIN}/integration/add/", "/admin/login/"]
)
def test_every_admin_page_links_the_favicon(client, acme, path):
    from django.test import Client

    browser = Client(HTTP_HOST=acme.host) if path == "/admin/login/" else client
    html = browser.get(path).content.decode()
    assert '<link rel="icon" href="/static/clarion/favicon.svg"' in html


def test_the_favicon_is_served(client):
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 301
    assert redirect["Location"] == "/static/clarion/favicon.svg"
    icon = client.get("/static/clarion/favicon.svg")
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)


# --- error pages -----------------------------------------------------------------------------


def test_admin_errors_are_html_pages_and_the_api_keeps_json(client, acme_api):
    missing = client.get("/admin/no-such-page/")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("text/html")
    assert "Page not found" in missing.content.decode()

    forbidden = client.get(f"{ADMIN}/delivery/add/")
    assert forbidden.status_code == 403
    assert forbidden["Content-Type"].startswith("text/html")
    assert "Forbidden" in forbidden.content.decode()

    api = acme_api.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_an_admin_crash_is_an_html_500_page(acme, monkeypatch):
    from django.test import Client

    from notifications.admin import deliveries
    from tenants.services import tenant_admin_create

    tenant_admin_create(tenant=acme.tenant, email="ops@acme.test", password="pass-word-1")
    browser = admin_login(acme.host, "ops@acme.test", "pass-word-1")
    crashing = Client(HTTP_HOST=acme.host, raise_request_exception=False)
    crashing.cookies = browser.cookies

    def crash(self, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(deliveries.DeliveryAdmin, "get_queryset", crash)

    response = crashing.get(f"{ADMIN}/delivery/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert "Server error" in response.content.decode()
    assert "boom" not in response.content.decode()


# --- integrations ----------------------------------------------------------------------------


def test_each_provider_gets_a_form_of_its_typed_settings(client):
    html = client.get(f"{ADMIN}/integration/add/?provider=twilio").content.decode()

    assert 'name="settings__account_sid"' in html
    assert 'name="settings__from_number"' in html
    assert 'name="settings__base_url"' in html
    assert 'name="credentials__auth_token"' in html and 'type="password"' in html
    smtp = client.get(f"{ADMIN}/integration/add/?provider=smtp").content.decode()
    assert 'type="number" name="settings__port"' in smtp
    assert 'type="checkbox" name="settings__use_tls"' in smtp
    fcm = client.get(f"{ADMIN}/integration/add/?provider=fcm").content.decode()
    assert '<textarea name="credentials__service_account_json"' in fcm


def test_an_integration_change_page_never_renders_a_credential(client, acme):
    with schema_context(acme.schema):
        integration = IntegrationFactory(
            channel="sms",
            provider="twilio",
            settings={"account_sid": "AC123", "from_number": "+14155550100"},
            credentials={"auth_token": "tok-Very-Secret"},
        )

    html = client.get(f"{ADMIN}/integration/{integration.pk}/change/").content.decode()

    assert 'value="AC123"' in html
    assert "tok-Very-Secret" not in html
    assert "Leave blank to keep the stored value." in html


def test_an_integration_sends_a_test_through_its_connector(client, acme, smtp_server):
    with schema_context(acme.schema):
        integration = smtp_integration(smtp_server)

    response = client.post(
        f"{ADMIN}/integration/{integration.pk}/send-test/", {"to": "ops@example.com"}, follow=True
    )

    assert "Test sent to ops@example.com" in response.content.decode()
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "ops@example.com"
    assert message["Subject"] == "Clarion test message"


def test_a_failed_test_send_says_why(client, acme, smtp_server):
    with schema_context(acme.schema):
        integration = smtp_integration(smtp_server)
    smtp_server.reject_next(1, code=550)

    response = client.post(
        f"{ADMIN}/integration/{integration.pk}/send-test/", {"to": "ops@example.com"}, follow=True
    )
    html = response.content.decode()
    assert "Test not sent" in html and "550" in html

    unknown = client.post(
        f"{ADMIN}/integration/{integration.pk}/send-test/", {"to": "nobody"}, follow=True
    )
    assert "No subscriber &#x27;nobody&#x27;" in unknown.content.decode()


# --- templates -------------------------------------------------------------------------------


def test_a_template_variant_is_sent_as_a_test(client, acme, smtp_server):
    with schema_context(acme.schema):
        smtp_integration(smtp_server)
        template = TemplateFactory(
            key="welcome", channel="email", subject="Hello {{ payload.name }}", body="<p>Hi</p>"
        )
        TemplateVariantFactory(template=template, name="b", subject="Hey {{ payload.name }}",
                               body="<p>Hey</p>")  # fmt: skip

    page = client.get(f"{ADMIN}/template/{template.pk}/change/").content.decode()
    assert 'id="send-test"' in page and '<option value="b">b</option>' in page

    response = client.post(
        f"{ADMIN}/template/{template.pk}/send-test/",
        {"to": "marketer@example.com", "variant": "b", "payload": '{"name": "Ada"}'},
        follow=True,
    )

    assert "sent to marketer@example.com" in response.content.decode()
    [message] = smtp_server.wait_for(1)
    assert message["Subject"] == "Hey Ada"


def test_a_template_test_without_an_integration_says_so(client, acme):
    with schema_context(acme.schema):
        Integration.objects.all().delete()
        template = TemplateFactory(key="welcome", channel="email", subject="Hi", body="<p>Hi</p>")

    response = client.post(
        f"{ADMIN}/template/{template.pk}/send-test/", {"to": "a@example.com"}, follow=True
    )

    assert "No active email integration" in response.content.decode()


# --- the platform admin ----------------------------------------------------------------------


@pytest.fixture
def platform_client(db):
    get_user_model().objects.create_superuser("root", "root@platform.test", "platform-pass-1")
    client = admin_login("localhost", "root", "platform-pass-1")
    assert client is not None
    return client


def test_the_platform_admin_edits_beat_schedules(platform_client):
    index = platform_client.get("/admin/").content.decode()
    assert "/admin/django_celery_beat/periodictask/" in index

    for model in ("periodictask", "intervalschedule", "crontabschedule"):
        assert platform_client.get(f"/admin/django_celery_beat/{model}/").status_code == 200
    response = platform_client.post(
        "/admin/django_celery_beat/intervalschedule/add/",
        {
            "every": "30",
            "period": "seconds",
            "periodictask_set-TOTAL_FORMS": "0",
            "periodictask_set-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, form_errors(response)
    from django_celery_beat.models import IntervalSchedule

    assert IntervalSchedule.objects.filter(every=30, period="seconds").exists()


def test_a_tenant_time_zone_is_validated_in_the_platform_admin(platform_client, acme):
    url = f"/admin/tenants/tenant/{acme.tenant.pk}/change/"
    data = {
        "name": "Acme",
        "is_active": "on",
        "timezone": "Mars/Olympus",
        "cors_allowed_origins": "",
        "api_rate_limits": "",
        "domains-TOTAL_FORMS": "0",
        "domains-INITIAL_FORMS": "0",
    }
    assert "timezone" in form_errors(platform_client.post(url, data))

    response = platform_client.post(url, {**data, "timezone": "Europe/Paris"})

    assert response.status_code == 302, form_errors(response)
    assert Tenant.objects.get(pk=acme.tenant.pk).timezone == "Europe/Paris"


def test_routes_and_workflows_have_readable_names_in_their_lists(client, acme):
    with schema_context(acme.schema):
        RouteFactory(event="order.paid", workflow=WorkflowFactory(key="paid", name="Paid"))
        assert Route.objects.get(event="order.paid").workflow.key == "paid"

    html = client.get(f"{ADMIN}/route/").content.decode()
    assert "order.paid" in html and "Paid (paid)" in html


def test_a_private_smtp_host_is_refused_on_its_field(client, acme, settings):
    from tests.notifications.test_admin import SMTP_ADD, smtp_data

    settings.CLARION_ALLOW_PRIVATE_DESTINATIONS = False

    response = client.post(SMTP_ADD, smtp_data(settings__host="127.0.0.1"))

    errors = form_errors(response)
    assert "private" in " ".join(errors["settings__host"])
    with schema_context(acme.schema):
        assert not Integration.objects.exists()
