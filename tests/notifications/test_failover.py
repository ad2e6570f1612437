"""Provider failover and the circuit breaker, through the real Twilio connector code."""

from __future__ import annotations

import pytest
from django.utils import timezone

from notifications.models import Delivery, Notification, Subscriber
from notifications.pipeline.fanout import notification_process
from notifications.pipeline.sending import deliveries_send
from notifications.pipeline.sweeper import tenant_sweep
from notifications.services.trigger import event_trigger
from tests.fakes import FakeHttpServer
from tests.notifications.pipeline_helpers import make_workflow, twilio_integration


@pytest.fixture
def backup_server():
    server = FakeHttpServer().start()
    yield server
    server.stop()


def send(event: str, subscriber_ids: list[str]) -> Notification:
    data = {"event": event, "to": subscriber_ids, "payload": {"order_id": "F-1"}}
    notification = Notification.objects.get(
        pk=event_trigger(data=data, raw=data).body["notification_id"]
    )
    notification_process(notification_id=notification.pk)
    queued = Delivery.objects.filter(notification=notification, status="queued")
    deliveries_send(delivery_ids=list(queued.values_list("pk", flat=True)), channel="sms")
    return notification


def retry_due(notification: Notification) -> None:
    Delivery.objects.filter(notification=notification, status="failed").update(
        next_attempt_at=timezone.now()
    )
    tenant_sweep()
    queued = Delivery.objects.filter(notification=notification, status="queued")
    deliveries_send(delivery_ids=list(queued.values_list("pk", flat=True)), channel="sms")


def test_a_retry_fails_over_to_the_next_integration(in_acme, http_server, backup_server):
    # given: the primary provider is down, the secondary works
    twilio_integration(http_server, name="primary", primary=True, only=False)
    twilio_integration(backup_server, name="backup", primary=False, only=False)
    http_server.respond(503, {"message": "down"})
    backup_server.respond(201, {"sid": "SM-backup"})
    Subscriber.objects.create(subscriber_id="f1", phone="+14155550199")
    event = make_workflow("failover", [{"channel": "sms"}])

    # when
    notification = send(event, ["f1"])
    first = Delivery.objects.get(notification=notification)
    retry_due(notification)

    # then: attempt 1 on the primary failed, attempt 2 went to the backup
    assert first.status == "failed" and first.provider == "twilio"
    delivery = Delivery.objects.get(notification=notification)
    assert delivery.status == "sent" and delivery.attempts == 2
    assert delivery.provider_message_id == "SM-backup"
    assert len(http_server.requests) == 1 and len(backup_server.requests) == 1


def test_an_open_circuit_skips_the_failing_provider(in_acme, settings, http_server, backup_server):
    settings.CIRCUIT_BREAKER_THRESHOLD = 2
    twilio_integration(http_server, name="primary", primary=True, only=False)
    twilio_integration(backup_server, name="backup", primary=False, only=False)
    http_server.respond(503, {"message": "down"})
    backup_server.respond(201, {"sid": "SM-backup"})
    for n in range(4):
        Subscriber.objects.create(subscriber_id=f"c{n}", phone=f"+1415555020{n}")
    event = make_workflow("circuit", [{"channel": "sms"}])

    # when: two failures open the primary's circuit within the batch
    notification = send(event, ["c0", "c1", "c2", "c3"])

    # then: the rest of the batch went straight to the backup, on their first attempt
    statuses = dict(
        Delivery.objects.filter(notification=notification).values_list("subscriber_ref", "status")
    )
    assert statuses == {"c0": "failed", "c1": "failed", "c2": "sent", "c3": "sent"}
    assert len(http_server.requests) == 2
    assert len(backup_server.requests) == 2
    assert set(
        Delivery.objects.filter(notification=notification, status="sent").values_list(
            "attempts", flat=True
        )
    ) == {1}
