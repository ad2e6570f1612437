"""The in-app inbox, delivery listings and history, replay, queue stats, `replay_dead`."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection

from notifications.api.authentication import subscriber_hash
from notifications.models import Delivery, DeliveryEvent, InboxMessage, Notification
from notifications.pipeline.fanout import notification_process
from notifications.pipeline.replay import deliveries_replay
from notifications.pipeline.sending import deliveries_send
from notifications.services.trigger import event_trigger
from tests.conftest import ApiClient
from tests.notifications.pipeline_helpers import make_workflow


def send_in_app(event, to, payload=None):
    data = {"event": event, "to": to, "payload": payload or {"order_id": "A-1"}}
    notification_id = event_trigger(data=data, raw=data).body["notification_id"]
    notification_process(notification_id=notification_id)
    ids = list(
        Delivery.objects.filter(notification_id=notification_id, status="queued").values_list(
            "pk", flat=True
        )
    )
    deliveries_send(delivery_ids=ids, channel="in_app")
    return Notification.objects.get(pk=notification_id)


@pytest.fixture
def inbox(in_acme):
    event = make_workflow(
        "inbox",
        [{"channel": "in_app", "subject": "Order {{ payload.order_id }}", "body": "Shipped!"}],
    )
    for order in ("A-1", "A-2", "A-3"):
        send_in_app(event, ["reader"], {"order_id": order})
    send_in_app(event, ["someone-else"])
    return event


def hash_client(acme, subscriber_id, secret=None):
    token = subscriber_hash(secret=secret or acme.tenant.inbox_secret, subscriber_id=subscriber_id)
    return ApiClient(acme.host, None), {"X-Subscriber-Hash": token}


def test_inbox_lists_messages_newest_first(acme_api, inbox):
    response = acme_api.get("/api/v1/inbox/reader/messages")

    assert response.status_code == 200
    body = response.json()
    assert [m["title"] for m in body["results"]] == ["Order A-3", "Order A-2", "Order A-1"]
    assert body["next"] is None
    assert set(body["results"][0]) == {
        "id",
        "title",
        "body",
        "cta_url",
        "read",
        "seen",
        "created_at",
    }


def test_inbox_pagination_follows_next(acme_api, inbox):
    first = acme_api.get("/api/v1/inbox/reader/messages", {"limit": 2}).json()
    assert len(first["results"]) == 2 and first["next"]

    second = acme_api.get(first["next"]).json()

    assert [m["title"] for m in second["results"]] == ["Order A-1"]
    assert second["next"] is None


def test_subscriber_hash_authenticates_only_its_subscriber(acme, inbox):
    client, headers = hash_client(acme, "reader")

    own = client.get("/api/v1/inbox/reader/messages", headers=headers)
    other = client.get("/api/v1/inbox/someone-else/messages", headers=headers)
    forged_client, forged = hash_client(acme, "reader", secret="not-the-secret")
    forged_response = forged_client.get("/api/v1/inbox/reader/messages", headers=forged)
    nothing = ApiClient(acme.host).get("/api/v1/inbox/reader/messages")

    assert own.status_code == 200 and len(own.json()["results"]) == 3
    assert other.status_code == 401
    assert forged_response.status_code == 401
    assert nothing.status_code == 401


def test_subscriber_hash_does_not_open_other_endpoints(acme, inbox):
    client, headers = hash_client(acme, "reader")
    assert client.get("/api/v1/deliveries", headers=headers).status_code == 401


def test_counts_read_and_read_all(acme_api, inbox):
    assert acme_api.get("/api/v1/inbox/reader/count").json() == {"unread": 3, "unseen": 3}
    message = acme_api.get("/api/v1/inbox/reader/messages").json()["results"][0]

    read = acme_api.post(f"/api/v1/inbox/reader/messages/{message['id']}/read")

    assert read.status_code == 200 and read.json()["read"] is True
    assert acme_api.get("/api/v1/inbox/reader/count").json() == {"unread": 2, "unseen": 2}
    unread = acme_api.get("/api/v1/inbox/reader/messages", {"status": "unread"}).json()["results"]
    assert message["id"] not in [m["id"] for m in unread]
    # reading feeds the delivery record (and so A/B results)
    delivery = InboxMessage.objects.get(pk=message["id"]).delivery
    assert delivery.status == "opened"
    assert DeliveryEvent.objects.filter(delivery=delivery).last().status == "opened"

    assert acme_api.post("/api/v1/inbox/reader/read-all").json() == {"updated": 2}
    assert acme_api.get("/api/v1/inbox/reader/count").json() == {"unread": 0, "unseen": 0}
    assert acme_api.get("/api/v1/inbox/reader/messages", {"status": "read"}).json()["results"]


def test_seen_all(acme_api, inbox):
    assert acme_api.post("/api/v1/inbox/reader/seen-all").json() == {"updated": 3}
    assert acme_api.get("/api/v1/inbox/reader/count").json() == {"unread": 3, "unseen": 0}


def test_reading_another_subscribers_message_is_404(acme_api, inbox):
    foreign = InboxMessage.objects.get(subscriber__subscriber_id="someone-else")
    response = acme_api.post(f"/api/v1/inbox/reader/messages/{foreign.pk}/read")
    assert response.status_code == 404
    assert InboxMessage.objects.get(pk=foreign.pk).read_at is None


def test_unknown_subscriber_inbox_is_404(acme_api, inbox):
    assert acme_api.get("/api/v1/inbox/nobody/messages").status_code == 404
    assert acme_api.get("/api/v1/inbox/nobody/count").status_code == 404


def test_invalid_inbox_filter_is_400(acme_api, inbox):
    response = acme_api.get("/api/v1/inbox/reader/messages", {"status": "maybe"})
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]


def test_inbox_of_one_tenant_is_invisible_to_another(globex, inbox):
    response = ApiClient(globex.host, globex.key).get("/api/v1/inbox/reader/messages")
    assert response.status_code == 404


def test_delivery_listing_filters_and_history(acme_api, inbox):
    deliveries = acme_api.get("/api/v1/deliveries", {"subscriber_id": "reader"}).json()["results"]
    assert len(deliveries) == 3 and {d["status"] for d in deliveries} == {"sent"}
    assert acme_api.get("/api/v1/deliveries", {"channel": "email"}).json()["results"] == []

    detail = acme_api.get(f"/api/v1/deliveries/{deliveries[0]['id']}").json()

    assert [(e["from_status"], e["status"]) for e in detail["events"]] == [
        ("", "queued"),
        ("queued", "sent"),
    ]


@pytest.mark.parametrize(
    "query",
    [{"status": "lost"}, {"channel": "pigeon"}, {"notification_id": "not-a-uuid"}, {"x": "1"}],
)
def test_invalid_delivery_filters_are_400(acme_api, inbox, query):
    response = acme_api.get("/api/v1/deliveries", query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_notification_listing_filters(acme_api, inbox):
    by_subscriber = acme_api.get("/api/v1/notifications", {"subscriber_id": "someone-else"}).json()
    by_event = acme_api.get("/api/v1/notifications", {"event": inbox}).json()
    by_status = acme_api.get("/api/v1/notifications", {"status": "accepted"}).json()

    assert len(by_subscriber["results"]) == 1
    assert len(by_event["results"]) == 4
    assert by_status["results"] == []


def test_unknown_ids_are_404(acme_api, inbox):
    assert acme_api.get("/api/v1/deliveries/999999").status_code == 404
    assert acme_api.get("/api/v1/notifications/not-a-uuid").status_code == 404
    assert (
        acme_api.get("/api/v1/notifications/00000000-0000-0000-0000-000000000000").status_code
        == 404
    )


def test_replay_refuses_a_sent_delivery(acme_api, inbox):
    delivery = Delivery.objects.filter(status="sent").first()

    response = acme_api.post(f"/api/v1/deliveries/{delivery.pk}/replay")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_replayable"


def test_replay_gives_a_fresh_attempt_budget(in_acme, inbox):
    delivery = Delivery.objects.filter(status="sent").first()
    Delivery.objects.filter(pk=delivery.pk).update(status="dead", attempts=5, max_attempts=5)

    assert deliveries_replay(delivery_ids=[delivery.pk]) == 1

    delivery.refresh_from_db()
    assert delivery.status == "queued" and delivery.max_attempts == 10
    assert DeliveryEvent.objects.filter(delivery=delivery).last().detail == "replayed"


def test_replay_dead_command(acme, inbox):
    dead_ids = list(Delivery.objects.filter(subscriber_ref="reader").values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=dead_ids[:2]).update(status="dead")
    out = io.StringIO()
    previous = connection.schema_name
    connection.set_schema_to_public()
    try:
        call_command(
            "replay_dead", "--tenant", "acme", "--channel", "in_app", "--since", "1h", stdout=out
        )
    finally:
        connection.set_schema(previous)

    assert "re-queued 2 dead deliveries" in out.getvalue()
    assert Delivery.objects.filter(pk__in=dead_ids[:2], status="queued").count() == 2


def test_queue_stats(acme_api, inbox):
    response = acme_api.get("/api/v1/queues/stats")

    assert response.status_code == 200
    stats = response.json()
    assert set(stats) == {"critical", "high", "normal", "low"}
    assert stats["normal"]["completed"] == 4
    assert set(stats["normal"]) == {
        "waiting",
        "active",
        "scheduled",
        "completed",
        "failed",
        "dead",
        "broker_backlog",
    }
