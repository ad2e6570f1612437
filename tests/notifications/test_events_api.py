"""POST /events/trigger, /events/bulk, /events/broadcast: validation and idempotency."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from notifications.models import Delivery, Notification, Subscriber
from notifications.pipeline.fanout import notification_process
from notifications.services.trigger import _lock_id
from tests.notifications.pipeline_helpers import make_workflow


@pytest.fixture
def event(in_acme):
    return make_workflow("api", [{"channel": "in_app"}], priority="high")


def test_trigger_accepts_and_stores_before_answering(acme_api, event):
    response = acme_api.post(
        "/api/v1/events/trigger",
        {"event": event, "to": ["user-1"], "payload": {"order_id": "A-1"}, "transaction_id": "t-1"},
    )

    assert response.status_code == 202
    body = response.json()
    assert body["transaction_id"] == "t-1" and body["status"] == "accepted"
    notification = Notification.objects.get(pk=body["notification_id"])
    assert notification.priority == "high"
    assert notification.payload == {"order_id": "A-1"}
    assert Subscriber.objects.filter(subscriber_id="user-1").exists()


def test_priority_in_the_request_overrides_the_route(acme_api, event):
    response = acme_api.post(
        "/api/v1/events/trigger", {"event": event, "to": ["u"], "priority": "critical"}
    )
    assert Notification.objects.get(pk=response.json()["notification_id"]).priority == "critical"


def test_a_transaction_id_is_generated_when_none_is_given(acme_api, event):
    body = acme_api.post("/api/v1/events/trigger", {"event": event, "to": ["u"]}).json()
    assert len(body["transaction_id"]) == 32


def test_inline_subscribers_are_upserted(acme_api, event, in_acme):
    Subscriber.objects.create(subscriber_id="known", email="old@example.com")

    acme_api.post(
        "/api/v1/events/trigger",
        {
            "event": event,
            "to": [
                {"subscriber_id": "known", "email": "new@example.com"},
                {"subscriber_id": "fresh", "phone": "+44 20 7946 0958", "first_name": "Ada"},
            ],
        },
    )

    assert Subscriber.objects.get(subscriber_id="known").email == "new@example.com"
    fresh = Subscriber.objects.get(subscriber_id="fresh")
    assert fresh.phone == "+442079460958" and fresh.first_name == "Ada"


def test_replay_returns_the_first_response_and_sends_nothing_new(acme_api, event):
    body = {"event": event, "to": ["u1"], "payload": {"x": 1}, "transaction_id": "dup-1"}
    first = acme_api.post("/api/v1/events/trigger", body)

    again = acme_api.post("/api/v1/events/trigger", body)

    assert first.status_code == 202
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Notification.objects.filter(transaction_id="dup-1").count() == 1


def test_idempotency_key_header_is_the_key_when_no_transaction_id(acme_api, event):
    body = {"event": event, "to": ["u1"]}
    first = acme_api.post("/api/v1/events/trigger", body, headers={"Idempotency-Key": "hdr-1"})
    again = acme_api.post("/api/v1/events/trigger", body, headers={"Idempotency-Key": "hdr-1"})

    assert first.json()["transaction_id"] == "hdr-1"
    assert again.status_code == 200 and again.json() == first.json()


def test_same_key_different_body_is_422(acme_api, event):
    acme_api.post("/api/v1/events/trigger", {"event": event, "to": ["u1"], "transaction_id": "k"})

    response = acme_api.post(
        "/api/v1/events/trigger", {"event": event, "to": ["u2"], "transaction_id": "k"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_mismatch"


def test_key_in_flight_is_409_with_retry_after(acme_api, event):
    # given: another connection holds the key's lock, as a first request still running would
    lock = _lock_id("busy-key")  # computed in acme's schema, like the request will
    held, release = threading.Event(), threading.Event()

    def first_request():
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock])
                held.set()
                release.wait(10)
                cursor.execute("ROLLBACK")
        finally:
            other.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    assert held.wait(10)
    try:
        response = acme_api.post(
            "/api/v1/events/trigger", {"event": event, "to": ["u1"], "transaction_id": "busy-key"}
        )
    finally:
        release.set()
        thread.join()

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert response["Retry-After"] == "1"
    assert not Notification.objects.filter(transaction_id="busy-key").exists()


def test_unknown_event_is_422(acme_api, in_acme):
    response = acme_api.post("/api/v1/events/trigger", {"event": "nope.nothing", "to": ["u"]})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_event"
    assert not Subscriber.objects.filter(subscriber_id="u").exists()


def test_inactive_route_is_an_unknown_event(acme_api, event):
    from notifications.models import Route

    Route.objects.filter(event=event).update(active=False)
    response = acme_api.post("/api/v1/events/trigger", {"event": event, "to": ["u"]})
    assert response.status_code == 422


def test_more_than_100_recipients_is_400_too_many_recipients(acme_api, event):
    response = acme_api.post(
        "/api/v1/events/trigger", {"event": event, "to": [f"u{n}" for n in range(101)]}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_recipients"
    assert not Subscriber.objects.filter(subscriber_id="u0").exists()


def test_exactly_100_recipients_are_accepted(acme_api, event):
    response = acme_api.post(
        "/api/v1/events/trigger", {"event": event, "to": [f"u{n}" for n in range(100)]}
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": ["u"]}, "event"),
        ({"event": "x"}, "to"),
        ({"event": "x", "to": []}, "to"),
        ({"event": "x", "to": ["u"], "payload": [1, 2]}, "payload"),
        ({"event": "x", "to": ["u"], "priority": "urgent"}, "priority"),
        ({"event": "x", "to": [{"subscriber_id": "u", "email": "not-an-email"}]}, "to.0.email"),
        ({"event": "x", "to": [{"subscriber_id": "u", "phone": "12"}]}, "to.0.phone"),
        ({"event": "x", "to": [{"topic": "t", "extra": 1}]}, "to.0.extra"),
        ({"event": "x", "to": [42]}, "to.0"),
        ({"event": "x", "to": ["u"], "colour": "red"}, "colour"),
    ],
)
def test_invalid_trigger_bodies_name_the_field(acme_api, event, body, field):
    response = acme_api.post("/api/v1/events/trigger", body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"], error


def test_unknown_topic_is_400_and_nothing_is_written(acme_api, event):
    response = acme_api.post(
        "/api/v1/events/trigger", {"event": event, "to": ["new-person", {"topic": "ghosts"}]}
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"to.1.topic": ["No topic 'ghosts'."]}
    assert not Subscriber.objects.filter(subscriber_id="new-person").exists()
    assert not Notification.objects.exists()


def test_body_over_512_kb_is_413(acme_api, event):
    response = acme_api.post(
        "/api/v1/events/trigger", {"event": event, "to": ["u"], "payload": {"x": "y" * 530_000}}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_bulk_accepts_each_event_on_its_own(acme_api, event):
    response = acme_api.post(
        "/api/v1/events/bulk",
        {
            "events": [
                {"event": event, "to": ["a"], "transaction_id": "bulk-1"},
                {"event": "unknown.event", "to": ["b"]},
                {"event": event, "to": []},
                {"event": event, "to": ["a"], "transaction_id": "bulk-1"},
            ]
        },
    )

    assert response.status_code == 202
    results = response.json()["results"]
    assert results[0]["status"] == "accepted" and results[0]["replayed"] is False
    assert results[1] == {
        "status": "error",
        "error": {
            "code": "unknown_event",
            "message": "No active route for the event 'unknown.event'.",
            "fields": {"event": ["No active route for this event."]},
        },
    }
    assert results[2]["error"]["code"] == "validation_error"
    assert results[3]["replayed"] is True
    assert results[3]["notification_id"] == results[0]["notification_id"]
    assert Notification.objects.count() == 1


def test_bulk_over_100_events_is_413(acme_api, event):
    response = acme_api.post(
        "/api/v1/events/bulk", {"events": [{"event": event, "to": ["a"]}] * 101}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"


def test_broadcast_reaches_every_subscriber(acme_api, event, in_acme):
    for n in range(5):
        Subscriber.objects.create(subscriber_id=f"all-{n}")

    response = acme_api.post("/api/v1/events/broadcast", {"event": event, "payload": {"v": 1}})

    assert response.status_code == 202
    notification = Notification.objects.get(pk=response.json()["notification_id"])
    assert notification.broadcast
    notification_process(notification_id=notification.pk)
    assert Delivery.objects.filter(notification=notification).count() == 5


def test_events_of_one_tenant_are_invisible_to_another(acme_api, globex_api, event):
    notification_id = acme_api.post("/api/v1/events/trigger", {"event": event, "to": ["u"]}).json()[
        "notification_id"
    ]

    assert acme_api.get(f"/api/v1/notifications/{notification_id}").status_code == 200
    response = globex_api.get(f"/api/v1/notifications/{notification_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # and the event itself is unknown there
    assert (
        globex_api.post("/api/v1/events/trigger", {"event": event, "to": ["u"]}).status_code == 422
    )
