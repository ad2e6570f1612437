"""Workflow semantics through the real services (one process, real PostgreSQL): preferences,
critical bypass, missing addresses, delays, digests, conditions, rendering failures, A/B."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Delivery, DeliveryEvent, InboxMessage, Notification, Subscriber
from notifications.pipeline.fanout import notification_process
from notifications.pipeline.sending import deliveries_send
from notifications.pipeline.sweeper import tenant_sweep
from notifications.services.trigger import event_trigger
from tests.factories import TemplateVariantFactory
from tests.notifications.pipeline_helpers import make_workflow


def trigger(event, to, payload=None, **extra):
    data = {"event": event, "to": to, "payload": payload or {"order_id": "A-1"}, **extra}
    outcome = event_trigger(data=data, raw=data)
    return Notification.objects.get(pk=outcome.body["notification_id"])


def process_and_send(notification):
    notification_process(notification_id=notification.pk)
    for channel in ("in_app", "email", "sms", "push", "chat"):
        ids = list(
            Delivery.objects.filter(
                notification=notification, channel=channel, status="queued"
            ).values_list("pk", flat=True)
        )
        if ids:
            deliveries_send(delivery_ids=ids, channel=channel)


def by_subscriber(notification):
    return {
        d.subscriber_ref: d
        for d in Delivery.objects.filter(notification=notification).order_by("step_index")
    }


def test_preferences_skip_opted_out_channels(in_acme):
    event = make_workflow("prefs", [{"channel": "in_app"}])
    Subscriber.objects.create(subscriber_id="in", preferences={})
    Subscriber.objects.create(subscriber_id="out", preferences={"channels": {"in_app": False}})
    Subscriber.objects.create(
        subscriber_id="wf-out",
        preferences={"channels": {"in_app": True}, "workflows": {"wf-prefs": {"in_app": False}}},
    )
    Subscriber.objects.create(
        subscriber_id="wf-in",
        preferences={"channels": {"in_app": False}, "workflows": {"wf-prefs": {"in_app": True}}},
    )

    notification = trigger(event, ["in", "out", "wf-out", "wf-in"])
    process_and_send(notification)

    result = {sid: d.status for sid, d in by_subscriber(notification).items()}
    assert result == {"in": "sent", "out": "skipped", "wf-out": "skipped", "wf-in": "sent"}
    assert "opted out" in by_subscriber(notification)["out"].last_error
    assert set(InboxMessage.objects.values_list("subscriber__subscriber_id", flat=True)) == {
        "in",
        "wf-in",
    }


def test_critical_workflow_bypasses_preferences(in_acme):
    event = make_workflow("crit", [{"channel": "in_app"}], critical=True, priority="critical")
    Subscriber.objects.create(subscriber_id="out", preferences={"channels": {"in_app": False}})

    notification = trigger(event, ["out"])
    process_and_send(notification)

    assert notification.priority == "critical"
    assert by_subscriber(notification)["out"].status == "sent"


def test_missing_address_is_skipped_not_failed(in_acme):
    event = make_workflow("noaddr", [{"channel": "email"}])

    notification = trigger(event, ["bare-subscriber"])
    notification_process(notification_id=notification.pk)

    delivery = by_subscriber(notification)["bare-subscriber"]
    assert delivery.status == "skipped"
    assert "no email address" in delivery.last_error


def test_delay_step_waits_for_the_sweeper(in_acme):
    event = make_workflow("delay", [{"channel": "in_app"}, {"delay": 3600}, {"channel": "in_app"}])

    notification = trigger(event, ["u1"])
    notification_process(notification_id=notification.pk)

    first, second = Delivery.objects.filter(notification=notification).order_by("step_index")
    assert first.status == "queued" and second.status == "pending"
    assert second.next_attempt_at > timezone.now() + timedelta(minutes=59)
    assert tenant_sweep()["due"] == 0
    Delivery.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now())
    assert tenant_sweep()["due"] == 1
    assert Delivery.objects.get(pk=second.pk).status == "queued"


def test_unread_condition_skips_when_the_in_app_message_was_read(in_acme):
    event = make_workflow(
        "unread",
        [{"channel": "in_app"}, {"delay": 60}, {"channel": "in_app", "unread_step": 0}],
    )
    notification = trigger(event, ["reader", "ignorer"])
    process_and_send(notification)
    InboxMessage.objects.filter(subscriber__subscriber_id="reader").update(read_at=timezone.now())
    Delivery.objects.filter(notification=notification, step_index=2).update(
        status="queued", next_attempt_at=None
    )

    process_and_send(notification)

    later = {
        d.subscriber_ref: d.status
        for d in Delivery.objects.filter(notification=notification, step_index=2)
    }
    assert later == {"reader": "skipped", "ignorer": "sent"}


def test_digest_merges_events_in_the_window(in_acme):
    from notifications.models import Route, Template, Workflow, WorkflowStep

    workflow = Workflow.objects.create(key="wf-digest", name="Digest")
    Template.objects.create(
        key="digest-body", channel="in_app", body="{{ payload.digest.count }} new comments"
    )
    WorkflowStep.objects.create(workflow=workflow, position=0, type="digest", seconds=600)
    WorkflowStep.objects.create(
        workflow=workflow, position=1, type="send", channel="in_app", template_key="digest-body"
    )
    Route.objects.create(event="comment.created", workflow=workflow)

    notifications = [trigger("comment.created", ["author"], {"n": n}) for n in range(3)]
    for notification in notifications:
        notification_process(notification_id=notification.pk)
    Delivery.objects.filter(subscriber_ref="author").update(next_attempt_at=timezone.now())
    tenant_sweep()
    ids = list(Delivery.objects.filter(status="queued").values_list("pk", flat=True))
    deliveries_send(delivery_ids=ids, channel="in_app")

    assert sorted(Delivery.objects.values_list("status", flat=True)) == [
        "digested",
        "digested",
        "sent",
    ]
    assert list(InboxMessage.objects.values_list("body", flat=True)) == ["3 new comments"]


def test_render_error_dead_letters_with_a_configuration_error(in_acme):
    event = make_workflow("broken", [{"channel": "in_app", "body": "{{ payload.missing.deep }}"}])

    notification = trigger(event, ["u1"], {"order_id": 1})
    process_and_send(notification)

    delivery = by_subscriber(notification)["u1"]
    assert delivery.status == "dead"
    assert delivery.last_error_class == "RenderError"
    event_row = DeliveryEvent.objects.filter(delivery=delivery).last()
    assert event_row.status == "dead" and event_row.error_class == "RenderError"


def test_no_integration_dead_letters(in_acme):
    event = make_workflow("nointeg", [{"channel": "sms"}])
    Subscriber.objects.create(subscriber_id="u1", phone="+14155550123")

    notification = trigger(event, ["u1"])
    process_and_send(notification)

    delivery = by_subscriber(notification)["u1"]
    assert delivery.status == "dead"
    assert "no active sms integration" in delivery.last_error


def test_variant_is_recorded_and_stable_per_subscriber(in_acme):
    event = make_workflow("ab", [{"channel": "in_app", "body": "control"}])
    from notifications.models import Template

    template = Template.objects.get(key="tpl-ab-0")
    TemplateVariantFactory(template=template, name="a", weight=1, body="Variant A")
    TemplateVariantFactory(template=template, name="b", weight=1, body="Variant B")
    subscribers = [f"ab-{n}" for n in range(40)]

    first = trigger(event, subscribers)
    process_and_send(first)
    second = trigger(event, subscribers, {"order_id": "again"})
    process_and_send(second)

    chosen_first = {
        d.subscriber_ref: d.variant for d in Delivery.objects.filter(notification=first)
    }
    chosen_second = {
        d.subscriber_ref: d.variant for d in Delivery.objects.filter(notification=second)
    }
    assert chosen_first == chosen_second
    assert set(chosen_first.values()) == {"a", "b"}
    for message in InboxMessage.objects.filter(notification=first).select_related("delivery"):
        assert message.body == f"Variant {message.delivery.variant.upper()}"


def test_topic_members_and_explicit_ids_are_deduplicated(in_acme):
    from notifications.models import Topic, TopicSubscription

    event = make_workflow("dedupe", [{"channel": "in_app"}])
    subscribers = [Subscriber.objects.create(subscriber_id=f"d-{n}") for n in range(5)]
    topic = Topic.objects.create(key="dedupe-topic")
    TopicSubscription.objects.bulk_create(
        [TopicSubscription(topic=topic, subscriber=s) for s in subscribers]
    )

    notification = trigger(event, [{"topic": "dedupe-topic"}, "d-1", "d-2"])
    process_and_send(notification)
    notification_process(notification_id=notification.pk)  # a re-run changes nothing

    assert Delivery.objects.filter(notification=notification).count() == 5
    assert InboxMessage.objects.filter(notification=notification).count() == 5


@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_fan_out_streams_in_chunks_and_hands_over_the_rest(
    in_acme, settings, monkeypatch, chunk_size
):
    from notifications.models import Topic, TopicSubscription
    from notifications.pipeline import fanout

    settings.FANOUT_CHUNK_SIZE = chunk_size
    monkeypatch.setattr(fanout, "CHUNKS_PER_TASK", 2)
    event = make_workflow(f"chunks{chunk_size}", [{"channel": "in_app"}])
    subscribers = Subscriber.objects.bulk_create(
        [Subscriber(subscriber_id=f"ch-{n}") for n in range(7)]
    )
    topic = Topic.objects.create(key=f"chunks-{chunk_size}")
    TopicSubscription.objects.bulk_create(
        [TopicSubscription(topic=topic, subscriber=s) for s in subscribers]
    )
    notification = trigger(event, [{"topic": topic.key}, "ch-0"])

    runs, cursor = 0, None
    while True:
        runs += 1
        counts = notification_process(notification_id=notification.pk, cursor=cursor)
        cursor = counts.get("continued")
        if not cursor:
            break

    assert Delivery.objects.filter(notification=notification).count() == 7
    assert Notification.objects.get(pk=notification.pk).status == "processed"
    # explicit ids are one chunk, then ceil(7 / size) topic chunks, two chunks per run
    expected_chunks = 1 + -(-7 // chunk_size)
    assert runs == -(-expected_chunks // 2) + (1 if expected_chunks % 2 == 0 else 0)
