"""A batch renders with one cache: templates loaded once, shared messages rendered once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.models import Notification, Subscriber
from notifications.rendering import (
    SUBSCRIBER_FIELDS,
    Renderer,
    RenderError,
    subscriber_context,
    subscriber_context_from_row,
)
from notifications.rendering import batch as batch_module
from tests.factories import SubscriberFactory, TemplateFactory, TemplateVariantFactory


@pytest.fixture
def render_calls(monkeypatch) -> list[dict]:
    """Every real render the batch performs (each call goes through to Jinja)."""
    calls: list[dict] = []
    real = batch_module.render_message

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(batch_module, "render_message", counting)
    return calls


def notification(n: int, **fields) -> Notification:
    return Notification.objects.create(
        event="order.shipped",
        priority="normal",
        transaction_id=f"batch-{n}",
        request_hash="h",
        **fields,
    )


def people(count: int) -> list[dict]:
    return [
        {"subscriber_id": f"user-{i}", "first_name": f"Name{i}", "locale": "en"}
        for i in range(count)
    ]


# --- subscriber context ------------------------------------------------------------------


def test_subscriber_context():
    subscriber = SimpleNamespace(
        subscriber_id="u1",
        email="ada@example.com",
        phone=None,
        first_name="Ada",
        last_name="L",
        locale="en-GB",
        timezone="Europe/London",
        data={"plan": "pro"},
    )

    assert subscriber_context(subscriber) == {
        "subscriber_id": "u1",
        "email": "ada@example.com",
        "phone": "",
        "first_name": "Ada",
        "last_name": "L",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "data": {"plan": "pro"},
    }


def test_a_database_row_gives_the_same_context_as_the_model(in_acme):
    # given a subscriber with some fields empty
    SubscriberFactory(subscriber_id="u-row", phone=None, last_name="", data={"plan": "pro"})
    columns = ", ".join(SUBSCRIBER_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {Subscriber._meta.db_table} WHERE subscriber_id = %s",
            ["u-row"],
        )
        row = cursor.fetchone()

    # when its context is built from the model, from the row and from a mapping of the row
    expected = subscriber_context(Subscriber.objects.get(subscriber_id="u-row"))

    # then all three agree
    assert subscriber_context_from_row(row) == expected
    assert subscriber_context_from_row(dict(zip(SUBSCRIBER_FIELDS, row, strict=True))) == expected
    assert expected["phone"] == "" and expected["data"] == {"plan": "pro"}


@pytest.mark.parametrize("data", [None, "", "not json", "[1, 2]", [1, 2]])
def test_a_row_without_a_data_object_gets_an_empty_mapping(data):
    context = subscriber_context_from_row({"subscriber_id": "u1", "data": data})

    assert context["data"] == {}
    assert context["email"] == "" and context["timezone"] == ""


# --- the batch cache ---------------------------------------------------------------------


def test_a_shared_template_is_rendered_once_per_notification_and_variant(in_acme, render_calls):
    # given a template that never mentions the subscriber, with two variants
    template = TemplateFactory(
        key="shipped", channel="sms", subject="", body="Default {{ payload.order_id }}"
    )
    TemplateVariantFactory(template=template, name="a", body="A: {{ payload.order_id }}")
    TemplateVariantFactory(template=template, name="b", body="B: {{ actor.name }} sent it")
    notifications = [
        notification(1, payload={"order_id": "O-1"}, actor={"name": "Shop"}),
        notification(2, payload={"order_id": "O-2"}, actor={"name": "Shop"}),
    ]
    renderer = Renderer()

    # when the batch renders it for 30 subscribers of each notification
    results = [
        (
            note.pk,
            *renderer.render(
                template_key="shipped",
                channel="sms",
                notification=note,
                subscriber=person,
                payload=note.payload,
            ),
        )
        for note in notifications
        for person in people(30)
    ]

    # then each notification and variant was rendered once, and everyone got the right text
    pairs = {(pk, name) for pk, _, name in results}
    assert {name for _, name in pairs} == {"a", "b"}
    assert len(render_calls) == len(pairs) == 4
    for pk, message, name in results:
        order = "O-1" if pk == notifications[0].pk else "O-2"
        assert message.body == (f"A: {order}" if name == "a" else "B: Shop sent it")


def test_a_personal_template_is_rendered_for_each_subscriber(in_acme, render_calls):
    # given a template whose variant mentions the subscriber (so the whole template is personal)
    template = TemplateFactory(key="welcome", channel="sms", subject="", body="Welcome!")
    TemplateVariantFactory(template=template, name="named", body="Hi {{ subscriber.first_name }}")
    note = notification(1)
    renderer = Renderer()

    # when it renders for 10 subscribers
    bodies = [
        renderer.render(
            template_key="welcome",
            channel="sms",
            notification=note,
            subscriber=person,
            payload={},
        )[0].body
        for person in people(10)
    ]

    # then each was rendered on its own, with their own name
    assert len(render_calls) == 10
    assert bodies == [f"Hi Name{i}" for i in range(10)]


def test_an_unshareable_delivery_is_rendered_on_its_own_and_not_shared(in_acme, render_calls):
    # given a shared template, and a digest whose payload is its own
    TemplateFactory(key="digest", channel="sms", subject="", body="{{ payload.count }} updates")
    note = notification(1, payload={"count": 1})
    renderer = Renderer()
    first, second = people(2)

    # when one delivery renders a merged payload, and another the notification's
    digest, _ = renderer.render(
        template_key="digest",
        channel="sms",
        notification=note,
        subscriber=first,
        payload={"count": 5},
        shareable=False,
    )
    plain, _ = renderer.render(
        template_key="digest",
        channel="sms",
        notification=note,
        subscriber=second,
        payload=note.payload,
    )

    # then both were rendered, each with its own payload
    assert (digest.body, plain.body) == ("5 updates", "1 updates")
    assert len(render_calls) == 2


def test_each_template_key_is_loaded_once_per_batch(in_acme):
    # given a template key in two locales, with a variant
    english = TemplateFactory(key="hello", channel="sms", locale="en", subject="", body="Hello")
    TemplateFactory(key="hello", channel="sms", locale="fr", subject="", body="Bonjour")
    TemplateVariantFactory(template=english, name="v", body="Hey")
    note = notification(1)
    renderer = Renderer()
    subscribers = [
        {"subscriber_id": f"u{i}", "locale": "fr" if i % 2 else "en-GB"} for i in range(20)
    ]

    # when the batch renders it for subscribers of both locales
    with CaptureQueriesContext(connection) as queries:
        bodies = {
            renderer.render(
                template_key="hello",
                channel="sms",
                notification=note,
                subscriber=person,
                payload={},
            )[0].body
            for person in subscribers
        }

    # then each locale got its own text, from one read of the templates and one of the variants
    assert bodies == {"Bonjour", "Hey"}
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(reads) == 2


def test_a_missing_template_or_one_for_another_channel_is_a_render_error(in_acme):
    TemplateFactory(key="mail-only", channel="email", subject="S", body="<p>B</p>")
    note = notification(1)
    renderer = Renderer()
    person = people(1)[0]

    with pytest.raises(RenderError, match="template 'nope' does not exist"):
        renderer.render(
            template_key="nope", channel="sms", notification=note, subscriber=person, payload={}
        )
    with pytest.raises(RenderError, match="is for email, not sms"):
        renderer.render(
            template_key="mail-only",
            channel="sms",
            notification=note,
            subscriber=person,
            payload={},
        )
