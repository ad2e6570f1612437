"""The tenant admin: configuration validated like the API, secrets hidden, history read-only."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from notifications.models import (
    Delivery,
    DeliveryEvent,
    Integration,
    Notification,
    Subscriber,
    Template,
    Topic,
    Workflow,
)
from platform_core.errors import ApplicationError, ErrorKind, validation_error
from tenants.services import tenant_admin_create
from tests.conftest import admin_login
from tests.factories import (
    IntegrationFactory,
    RouteFactory,
    SubscriberFactory,
    TemplateFactory,
    TemplateVariantFactory,
    TopicFactory,
    TopicSubscriptionFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)

PASSWORD = "acme-admin-pass-1"
SECRET = "pa55-Very-Secret-Word"
ADMIN = "/admin/notifications"


@pytest.fixture
def client(acme):
    tenant_admin_create(tenant=acme.tenant, email="ops@acme.test", password=PASSWORD)
    client = admin_login(acme.host, "ops@acme.test", PASSWORD)
    assert client is not None
    return client


def inline(prefix, rows, initial=0):
    """POST data of an inline formset: its management form and one dict per row."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
    return data


def form_errors(response):
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


def inline_errors(response, index=0):
    """Row errors and non-form errors of the change page's `index`-th inline."""
    formset = response.context["inline_admin_formsets"][index].formset
    return [dict(form.errors) for form in formset.forms], list(formset.non_form_errors())


def template_data(**overrides):
    data = {
        "key": "order-shipped",
        "locale": "en",
        "channel": "email",
        "subject": "Order {{ payload.order_id }} shipped",
        "body": "<p>Order {{ payload.order_id }} is on its way.</p>",
        "cta_url": "",
        **inline("variants", []),
    }
    data.update(overrides)
    return data


def step(position, **fields):
    row = {"position": str(position), "type": "send", "channel": "", "template_key": ""}
    row.update({"seconds": "", "unread_step": "", "id": "", "workflow": ""})
    row.update({name: str(value) for name, value in fields.items()})
    return row


def smtp_data(**overrides):
    """The SMTP integration form: one field per setting and credential."""
    data = {
        "name": "Mail relay",
        "settings__host": "smtp.example.com",
        "settings__port": "587",
        "settings__from_email": "no-reply@acme.test",
        "settings__use_tls": "on",
        "credentials__username": "acme",
        "credentials__password": SECRET,
        "rate_limit_per_second": "",
        "burst": "",
        "extra_settings": "",
        "primary": "on",
        "active": "on",
    }
    data.update(overrides)
    return data


SMTP_ADD = f"{ADMIN}/integration/add/?provider=smtp"


def make_delivery(status, *, notification=None, **fields):
    notification = notification or Notification.objects.create(
        event="order.shipped",
        priority="normal",
        transaction_id=f"t-{Notification.objects.count()}",
        request_hash="h",
    )
    return Delivery.objects.create(
        notification=notification,
        subscriber_ref=fields.pop("subscriber_ref", "user-1"),
        channel=fields.pop("channel", "email"),
        priority="normal",
        status=status,
        **fields,
    )


# --- the sites -------------------------------------------------------------------------------


def test_the_tenant_index_lists_the_notification_models(client):
    response = client.get("/admin/")

    assert response.status_code == 200
    for model in (
        "route",
        "workflow",
        "template",
        "integration",
        "subscriber",
        "topic",
        "notification",
        "delivery",
        "inboxmessage",
    ):
        assert f'href="{ADMIN}/{model}/"' in response.content.decode()
        assert client.get(f"{ADMIN}/{model}/").status_code == 200


def test_the_platform_admin_does_not_expose_them(db):
    get_user_model().objects.create_superuser("root", "root@platform.test", "platform-pass-1")
    client = admin_login("localhost", "root", "platform-pass-1")
    assert client is not None

    assert "/admin/notifications/" not in client.get("/admin/").content.decode()
    for model in ("template", "delivery", "integration", "subscriber"):
        assert client.get(f"{ADMIN}/{model}/").status_code == 404


@pytest.mark.parametrize(
    "model",
    ["route", "workflow", "template", "integration", "subscriber", "topic", "topicsubscription"],
)
def test_the_add_pages_render(client, model):
    assert client.get(f"{ADMIN}/{model}/add/").status_code == 200


def test_a_concurrent_change_caught_by_the_service_is_a_message_not_a_500(
    client, acme, monkeypatch
):
    # given: the template vanishes between the form's validation and the service's
    with schema_context(acme.schema):
        TemplateFactory(key="welcome", channel="sms", subject="", body="Hi")

    def raced(**kwargs):
        raise validation_error({"x": ["gone"]})

    monkeypatch.setattr("notifications.admin.routing.workflow_create", raced)
    data = {
        "key": "onboarding",
        "name": "Onboarding",
        **inline("steps", [step(0, channel="sms", template_key="welcome")]),
    }

    response = client.post(f"{ADMIN}/workflow/add/", data, follow=True)

    assert response.status_code == 200
    assert "Nothing was saved: The request is not valid. (x: gone)" in response.content.decode()
    with schema_context(acme.schema):
        assert not Workflow.objects.exists()


def test_a_service_error_naming_a_form_field_is_shown_on_that_field(client, acme, monkeypatch):
    # given: the key is taken between the form's validation and the service's insert
    with schema_context(acme.schema):
        TemplateFactory(key="welcome", channel="sms", subject="", body="Hi")

    def raced(**kwargs):
        raise ApplicationError(
            "workflow_exists",
            "Workflow 'onboarding' already exists.",
            kind=ErrorKind.CONFLICT,
            fields={"key": ["Taken meanwhile."], "steps.0.template": ["Deleted meanwhile."]},
        )

    monkeypatch.setattr("notifications.admin.routing.workflow_create", raced)
    data = {
        "key": "onboarding",
        "name": "Onboarding",
        **inline("steps", [step(0, channel="sms", template_key="welcome")]),
    }

    response = client.post(f"{ADMIN}/workflow/add/", data)

    # then: the form comes back with the user's input, the error on its field and above it
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["key"] == ["Taken meanwhile."]
    assert form.non_field_errors() == [
        "Nothing was saved: Workflow 'onboarding' already exists. "
        "(steps.0.template: Deleted meanwhile.)"
    ]
    assert form["name"].value() == "Onboarding"
    with schema_context(acme.schema):
        assert not Workflow.objects.exists()


# --- routes ----------------------------------------------------------------------------------


def test_routes_are_edited_from_the_list_and_validated(client, acme):
    with schema_context(acme.schema):
        route = RouteFactory(event="order.shipped", priority="normal")
    listed = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(route.pk),
        "form-0-priority": "high",
        "_save": "Save",
    }

    response = client.post(f"{ADMIN}/route/", listed)
    invalid = client.post(
        f"{ADMIN}/route/{route.pk}/change/",
        {"event": "has space", "workflow": route.workflow_id, "priority": "low"}
        | {"max_attempts": "99"},
    )

    assert response.status_code == 302
    with schema_context(acme.schema):
        route.refresh_from_db()
        assert (route.priority, route.active) == ("high", False)
    assert set(form_errors(invalid)) == {"event", "max_attempts"}


# --- templates -------------------------------------------------------------------------------


def test_an_invalid_jinja_body_is_a_form_error_and_nothing_is_saved(client, acme):
    response = client.post(
        f"{ADMIN}/template/add/", template_data(body="<p>{{ payload.order_id </p>")
    )

    errors = form_errors(response)
    assert "body" in errors and errors["body"][0].startswith("Line 1")
    with schema_context(acme.schema):
        assert not Template.objects.exists()


def test_an_email_template_without_subject_or_variants_gets_the_error_on_its_subject(client):
    response = client.post(f"{ADMIN}/template/add/", template_data(subject=""))

    assert form_errors(response)["subject"] == ["An email template needs a subject."]


def test_a_template_with_variants_saves_and_is_logged(client, acme):
    variants = [
        {"id": "", "template": "", "name": "a", "weight": "1", "subject": "", "body": "<p>A</p>"},
        {"id": "", "template": "", "name": "b", "weight": "3", "subject": "B!", "body": "<p>B</p>"},
    ]

    response = client.post(f"{ADMIN}/template/add/", template_data(**inline("variants", variants)))

    assert response.status_code == 302, form_errors(response)
    with schema_context(acme.schema):
        template = Template.objects.get(key="order-shipped", locale="en")
        assert [(v.name, v.weight, v.subject) for v in template.variants.all()] == [
            ("a", 1, ""),
            ("b", 3, "B!"),
        ]
        entry = LogEntry.objects.get(object_id=str(template.pk))
        assert entry.is_addition()


def test_a_variant_error_is_shown_on_its_row(client, acme):
    variants = [
        {"id": "", "template": "", "name": "a", "weight": "1", "subject": "", "body": "<p>A</p>"},
        {"id": "", "template": "", "name": "b", "weight": "1", "subject": "", "body": "{% if %}"},
    ]

    response = client.post(f"{ADMIN}/template/add/", template_data(**inline("variants", variants)))

    rows, _ = inline_errors(response)
    assert rows[0] == {}
    assert list(rows[1]) == ["body"]
    with schema_context(acme.schema):
        assert not Template.objects.exists()


def test_the_template_channel_cannot_change_under_a_workflow(client, acme):
    with schema_context(acme.schema):
        template = TemplateFactory(key="welcome", channel="email")
        WorkflowStepFactory(channel="email", template_key="welcome")

    response = client.post(
        f"{ADMIN}/template/{template.pk}/change/",
        {
            "channel": "sms",
            "subject": "",
            "body": "Hi",
            "cta_url": "",
            **inline("variants", []),
        },
    )

    assert "channel" in form_errors(response)


def test_the_change_page_shows_ab_results_per_variant(client, acme):
    with schema_context(acme.schema):
        template = TemplateFactory(key="promo", channel="email")
        TemplateVariantFactory(template=template, name="short")
        TemplateVariantFactory(template=template, name="long")
        notification = make_delivery("opened", template_key="promo", variant="short").notification
        for status in ("sent", "clicked", "delivered", "dead"):
            make_delivery(
                status,
                notification=notification,
                template_key="promo",
                variant="short",
                subscriber_ref=status,
            )
        make_delivery("sent", template_key="other", variant="short")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{ADMIN}/template/{template.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('class="ab-results"')
    table = html[start : html.index("</table>", start)]
    rows = dict(
        (cells[0], cells[1:])
        for cells in (re.findall(r"<td>([^<]*)</td>", row) for row in table.split("<tr>"))
        if cells
    )
    # sent (or later), delivered (or later), opened (or clicked), clicked, click rate with its
    # interval, open rate (2 opened of 4 sent), p-value against control (which has none sent)
    assert rows == {
        "control": ["0", "0", "0", "0", "—", "—", "—"],
        "short": ["4", "3", "2", "1", "25.0% [4.6%, 69.9%]", "50.0%", "—"],
        "long": ["0", "0", "0", "0", "—", "—", "—"],
    }
    assert 'class="ab-chart"' in html
    assert "No winner yet" in html
    delivery_queries = [q for q in queries if "notifications_delivery" in q["sql"]]
    assert len(delivery_queries) == 1


def test_the_last_locale_of_a_template_a_workflow_uses_cannot_be_deleted(client, acme):
    with schema_context(acme.schema):
        template = TemplateFactory(key="welcome")
        WorkflowStepFactory(workflow=WorkflowFactory(key="onboarding"), template_key="welcome")

    response = client.post(f"{ADMIN}/template/{template.pk}/delete/", {"post": "yes"})

    assert response.status_code == 200
    assert "onboarding" in response.content.decode()
    with schema_context(acme.schema):
        assert Template.objects.filter(pk=template.pk).exists()


# --- workflows -------------------------------------------------------------------------------


def test_a_send_step_naming_a_missing_template_is_an_error(client, acme):
    data = {
        "key": "onboarding",
        "name": "Onboarding",
        **inline("steps", [step(0, channel="email", template_key="nope")]),
    }

    response = client.post(f"{ADMIN}/workflow/add/", data)

    rows, _ = inline_errors(response)
    assert rows[0] == {"template_key": ["No template 'nope'."]}
    with schema_context(acme.schema):
        assert not Workflow.objects.exists()


def test_a_workflow_without_a_send_step_is_an_error(client):
    data = {"key": "idle", "name": "Idle", **inline("steps", [step(0, type="delay", seconds=60)])}

    response = client.post(f"{ADMIN}/workflow/add/", data)

    _, general = inline_errors(response)
    assert general == ["A workflow needs at least one send step."]


def test_steps_save_in_position_order_with_conditions_by_position(client, acme):
    with schema_context(acme.schema):
        TemplateFactory(key="nudge", channel="in_app", subject="", body="Hi")
        TemplateFactory(key="reminder", channel="email")
    rows = [
        step(30, channel="email", template_key="reminder", unread_step=10),
        step(10, channel="in_app", template_key="nudge"),
        step(20, type="delay", seconds=3600),
    ]

    response = client.post(
        f"{ADMIN}/workflow/add/",
        {"key": "nudge-then-mail", "name": "Nudge", "critical": "", **inline("steps", rows)},
    )

    assert response.status_code == 302, inline_errors(response)
    with schema_context(acme.schema):
        steps = Workflow.objects.get(key="nudge-then-mail").steps.order_by("position")
        assert [(s.position, s.type, s.template_key, s.unread_step) for s in steps] == [
            (0, "send", "nudge", None),
            (1, "delay", "", None),
            (2, "send", "reminder", 0),
        ]


def test_an_unread_condition_names_an_earlier_in_app_step_by_position(client, acme):
    with schema_context(acme.schema):
        TemplateFactory(key="reminder", channel="email")
    rows = [
        step(5, channel="email", template_key="reminder"),
        step(6, channel="email", template_key="reminder", unread_step=5),
        step(7, channel="email", template_key="reminder", unread_step=9),
    ]

    response = client.post(
        f"{ADMIN}/workflow/add/", {"key": "mails", "name": "Mails", **inline("steps", rows)}
    )

    errors, _ = inline_errors(response)
    assert errors == [
        {},
        {"unread_step": ["The step at position 5 is not an earlier in-app send step."]},
        {"unread_step": ["No step at position 9."]},
    ]


def test_steps_can_swap_positions(client, acme):
    with schema_context(acme.schema):
        TemplateFactory(key="a", channel="sms", subject="", body="A")
        TemplateFactory(key="b", channel="sms", subject="", body="B")
        workflow = WorkflowFactory(key="two")
        first = WorkflowStepFactory(workflow=workflow, position=0, channel="sms", template_key="a")
        second = WorkflowStepFactory(workflow=workflow, position=1, channel="sms", template_key="b")
        RouteFactory(event="user.signed_up", workflow=workflow)
    rows = [
        step(1, id=first.pk, workflow=workflow.pk, channel="sms", template_key="a"),
        step(0, id=second.pk, workflow=workflow.pk, channel="sms", template_key="b"),
    ]

    page = client.get(f"{ADMIN}/workflow/{workflow.pk}/change/")
    response = client.post(
        f"{ADMIN}/workflow/{workflow.pk}/change/",
        {"name": "Two", **inline("steps", rows, initial=2)},
    )

    assert "user.signed_up" in page.content.decode()  # the routes using it
    assert response.status_code == 302, inline_errors(response)
    with schema_context(acme.schema):
        assert [s.template_key for s in workflow.steps.order_by("position")] == ["b", "a"]


# --- integrations ----------------------------------------------------------------------------


def test_credentials_are_stored_encrypted_and_never_shown(client, acme):
    response = client.post(SMTP_ADD, smtp_data())

    assert response.status_code == 302, form_errors(response)
    with schema_context(acme.schema):
        integration = Integration.objects.get()
        assert SECRET not in integration.credentials_encrypted
        assert integration.credentials == {"username": "acme", "password": SECRET}
        assert integration.settings == {
            "host": "smtp.example.com",
            "port": 587,
            "from_email": "no-reply@acme.test",
            "use_tls": True,
            "use_ssl": False,
        }
    for page in (
        f"{ADMIN}/integration/",
        f"{ADMIN}/integration/{integration.pk}/change/",
        f"{ADMIN}/integration/{integration.pk}/history/",
    ):
        html = client.get(page).content.decode()
        assert SECRET not in html
        assert integration.credentials_encrypted not in html
    assert ">yes<" in client.get(f"{ADMIN}/integration/").content.decode()


def test_blank_credentials_on_edit_keep_the_stored_ones(client, acme):
    assert client.post(SMTP_ADD, smtp_data()).status_code == 302
    with schema_context(acme.schema):
        integration = Integration.objects.get()

    response = client.post(
        f"{ADMIN}/integration/{integration.pk}/change/",
        smtp_data(name="Renamed relay", credentials__username="", credentials__password=""),
    )

    assert response.status_code == 302, form_errors(response)
    with schema_context(acme.schema):
        integration.refresh_from_db()
        assert integration.name == "Renamed relay"
        assert integration.credentials == {"username": "acme", "password": SECRET}


def test_a_rejected_form_does_not_echo_the_credentials(client, acme):
    response = client.post(SMTP_ADD, smtp_data(settings__host=""))

    errors = form_errors(response)
    assert errors["settings__host"] == ["This field is required."]
    assert SECRET not in response.content.decode()
    with schema_context(acme.schema):
        assert not Integration.objects.exists()


def test_the_add_page_asks_for_a_registered_provider_first(client):
    chooser = client.get(f"{ADMIN}/integration/add/")
    assert chooser.status_code == 200
    assert 'value="anymail:postmark"' in chooser.content.decode()

    unknown = client.get(f"{ADMIN}/integration/add/?provider=carrier-pigeon")
    assert unknown.status_code == 200
    assert "choose the provider" in unknown.content.decode()


def test_primary_is_exclusive_per_channel(client, acme):
    with schema_context(acme.schema):
        old = IntegrationFactory(channel="sms", provider="console", primary=True)
        email = IntegrationFactory(channel="email", provider="smtp", primary=True)

    response = client.post(
        f"{ADMIN}/integration/add/?provider=console",
        {"name": "New console", "primary": "on", "active": "on", "extra_settings": ""},
    )

    assert response.status_code == 302, form_errors(response)
    with schema_context(acme.schema):
        primaries = Integration.objects.filter(primary=True)
        assert sorted(primaries.values_list("name", flat=True)) == sorted(
            ["New console", email.name]
        )
        old.refresh_from_db()
        assert old.primary is False


# --- subscribers and topics ------------------------------------------------------------------


def test_the_subscriber_form_normalises_the_phone(client, acme):
    data = {
        "subscriber_id": "user-42",
        "email": "",
        "phone": "+1 (415) 555-0123",
        "first_name": "",
        "last_name": "",
        "locale": "fr_ca",
        "timezone": "",
        "data": "{}",
        **inline("topic_subscriptions", []),
    }

    response = client.post(f"{ADMIN}/subscriber/add/", data)

    assert response.status_code == 302, form_errors(response)
    with schema_context(acme.schema):
        subscriber = Subscriber.objects.get(subscriber_id="user-42")
        assert (subscriber.phone, subscriber.email, subscriber.locale) == (
            "+14155550123",
            None,
            "fr-CA",
        )
    bad = client.post(f"{ADMIN}/subscriber/add/", {**data, "subscriber_id": "x", "phone": "12"})
    assert "phone" in form_errors(bad)


def test_the_admin_applies_the_id_rule_to_new_subscribers_and_topics_only(client, acme):
    data = {
        "subscriber_id": "org/42",
        "email": "",
        "phone": "",
        "first_name": "Old",
        "last_name": "",
        "locale": "",
        "timezone": "",
        "data": "{}",
        **inline("topic_subscriptions", []),
    }

    # a new subscriber or topic with a path-unsafe id is refused, naming the field
    assert "subscriber_id" in form_errors(client.post(f"{ADMIN}/subscriber/add/", data))
    bad_topic = client.post(f"{ADMIN}/topic/add/", {"key": "team/a", "name": "A"})
    assert "key" in form_errors(bad_topic)

    # one stored before the rule stays editable under its id
    with schema_context(acme.schema):
        old = Subscriber.objects.create(subscriber_id="org/42", first_name="Old")
    response = client.post(
        f"{ADMIN}/subscriber/{old.pk}/change/", {**data, "first_name": "Renamed"}
    )
    assert response.status_code == 302, form_errors(response)
    with schema_context(acme.schema):
        assert Subscriber.objects.get(pk=old.pk).first_name == "Renamed"


def test_the_gdpr_erase_action_asks_then_erases(client, acme):
    with schema_context(acme.schema):
        gone = SubscriberFactory(subscriber_id="gone", email="gone@example.com")
        stays = SubscriberFactory(subscriber_id="stays")
        delivery = make_delivery("sent", subscriber=gone, subscriber_ref="gone")
    action = {"action": "erase_personal_data", "_selected_action": [gone.pk]}

    confirm = client.post(f"{ADMIN}/subscriber/", {**action, "index": "0"})
    with schema_context(acme.schema):
        assert Subscriber.objects.filter(pk=gone.pk).exists()
    response = client.post(f"{ADMIN}/subscriber/", {**action, "confirm": "yes"})

    assert confirm.status_code == 200 and "Yes, erase" in confirm.content.decode()
    assert response.status_code == 302
    with schema_context(acme.schema):
        assert list(Subscriber.objects.values_list("pk", flat=True)) == [stays.pk]
        delivery.refresh_from_db()
        assert (delivery.subscriber_id, delivery.subscriber_ref) == (None, None)


def test_topics_list_their_member_count_in_one_query(client, acme):
    with schema_context(acme.schema):
        for key, members in (("news", 3), ("alerts", 1), ("empty", 0)):
            topic = TopicFactory(key=key)
            for _ in range(members):
                TopicSubscriptionFactory(topic=topic)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{ADMIN}/topic/")

    counts = {topic.key: topic.member_total for topic in response.context["cl"].result_list}
    assert counts == {"alerts": 1, "empty": 0, "news": 3}
    assert '<td class="field-member_count">3</td>' in response.content.decode()
    assert sum("notifications_topicsubscription" in q["sql"] for q in queries) == 1
    with schema_context(acme.schema):
        news = Topic.objects.get(key="news")
    change = client.get(f"{ADMIN}/topic/{news.pk}/change/").content.decode()
    assert f"topicsubscription/?topic__id__exact={news.pk}" in change
    members = client.get(f"{ADMIN}/topicsubscription/?topic__id__exact={news.pk}")
    assert members.status_code == 200 and members.context["cl"].result_count == 3


def test_deleting_a_topic_counts_its_members_instead_of_listing_them(client, acme):
    with schema_context(acme.schema):
        topic = TopicFactory(key="news")
        for _ in range(3):
            TopicSubscriptionFactory(topic=topic)

    confirm = client.get(f"{ADMIN}/topic/{topic.pk}/delete/")
    response = client.post(f"{ADMIN}/topic/{topic.pk}/delete/", {"post": "yes"})

    assert "news</a> and its 3 membership(s)" in confirm.content.decode()
    assert response.status_code == 302
    with schema_context(acme.schema):
        assert not Topic.objects.exists()
        assert Subscriber.objects.count() == 3


def test_deleting_a_subscriber_erases_it(client, acme):
    with schema_context(acme.schema):
        gone = SubscriberFactory(subscriber_id="gone")
        delivery = make_delivery("sent", subscriber=gone, subscriber_ref="gone")

    response = client.post(f"{ADMIN}/subscriber/{gone.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    with schema_context(acme.schema):
        assert not Subscriber.objects.exists()
        delivery.refresh_from_db()
        assert delivery.subscriber_ref is None


# --- notifications and deliveries ------------------------------------------------------------


def test_a_delivery_cannot_be_edited_or_added(client, acme):
    with schema_context(acme.schema):
        delivery = make_delivery("dead", last_error="boom")

    page = client.get(f"{ADMIN}/delivery/{delivery.pk}/change/")
    response = client.post(
        f"{ADMIN}/delivery/{delivery.pk}/change/",
        {"status": "sent", "last_error": "", **inline("events", [])},
    )

    assert page.status_code == 200 and "boom" in page.content.decode()
    assert response.status_code == 403
    assert client.get(f"{ADMIN}/delivery/add/").status_code == 403
    assert (
        client.post(f"{ADMIN}/delivery/{delivery.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    with schema_context(acme.schema):
        delivery.refresh_from_db()
        assert (delivery.status, delivery.last_error) == ("dead", "boom")


def test_replay_requeues_dead_deliveries_and_leaves_sent_ones(client, acme):
    with schema_context(acme.schema):
        dead = make_delivery("dead", attempts=5, max_attempts=5, last_error="gave up")
        sent = make_delivery("sent", attempts=1)

    response = client.post(
        f"{ADMIN}/delivery/",
        {"action": "replay", "index": "0", "_selected_action": [dead.pk, sent.pk]},
        follow=True,
    )

    text = response.content.decode()
    assert "Re-queued 1 delivery." in text and "Skipped 1" in text
    with schema_context(acme.schema):
        dead.refresh_from_db()
        sent.refresh_from_db()
        assert (dead.status, dead.last_error) == ("queued", "")
        assert dead.max_attempts > dead.attempts
        assert DeliveryEvent.objects.filter(
            delivery=dead, from_status="dead", status="queued", detail="replayed"
        ).exists()
        assert sent.status == "sent"
        assert not DeliveryEvent.objects.filter(delivery=sent).exists()


def test_the_delivery_page_shows_its_history(client, acme):
    with schema_context(acme.schema):
        delivery = make_delivery("dead")
        DeliveryEvent.objects.create(
            delivery=delivery, from_status="sending", status="dead", error_class="PermanentError"
        )

    html = client.get(f"{ADMIN}/delivery/{delivery.pk}/change/").content.decode()

    assert "PermanentError" in html
    assert 'name="events-0-status"' not in html  # rendered read-only, not as inputs


def test_the_delivery_list_does_not_query_per_row(client, acme):
    def queries_for_list():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"{ADMIN}/delivery/").status_code == 200
        return len(queries)

    with schema_context(acme.schema):
        make_delivery("sent")
    one = queries_for_list()
    with schema_context(acme.schema):
        for _ in range(5):
            make_delivery("dead")
    assert queries_for_list() == one


def test_deliveries_are_searched_by_subscriber_and_notification(client, acme):
    with schema_context(acme.schema):
        alice = SubscriberFactory(subscriber_id="alice")
        mine = make_delivery("sent", subscriber=alice, subscriber_ref="alice")
        other = make_delivery("sent", subscriber_ref="bob")

    by_subscriber = client.get(f"{ADMIN}/delivery/?q=alice").context["cl"].result_list
    by_notification = client.get(f"{ADMIN}/delivery/?q={other.notification_id}")

    assert [d.pk for d in by_subscriber] == [mine.pk]
    assert [d.pk for d in by_notification.context["cl"].result_list] == [other.pk]


def test_a_notification_is_read_only_and_links_its_deliveries(client, acme):
    with schema_context(acme.schema):
        delivery = make_delivery("sent")
        notification = delivery.notification

    page = client.get(f"{ADMIN}/notification/{notification.pk}/change/")
    response = client.post(f"{ADMIN}/notification/{notification.pk}/change/", {"event": "x"})
    deliveries = client.get(f"{ADMIN}/delivery/?notification__id__exact={notification.pk}")

    assert page.status_code == 200
    assert f"delivery/?notification__id__exact={notification.pk}" in page.content.decode()
    assert response.status_code == 403
    assert [d.pk for d in deliveries.context["cl"].result_list] == [delivery.pk]
