"""/api/v1/subscribers: upsert, bulk, read, update, GDPR erase, credentials, preferences."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from notifications.models import (
    Delivery,
    DeliveryEvent,
    InboxMessage,
    Notification,
    Subscriber,
    TopicSubscription,
)
from notifications.rendering import subscriber_context
from notifications.services.subscribers import subscribers_bulk_upsert, subscribers_ensure
from tests.factories import SubscriberFactory, TopicFactory


def in_schema(ctx):
    return schema_context(ctx.schema)


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL run, less django-tenants' `SET search_path` before each statement."""
    return [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith("SET search_path")
    ]


def error(response) -> dict:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


# --- upsert --------------------------------------------------------------------------------


def test_upsert_creates_then_updates(acme_api, acme):
    # when
    created = acme_api.post(
        "/api/v1/subscribers",
        {"subscriber_id": "u1", "email": "ada@example.com", "first_name": "Ada"},
    )
    updated = acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1", "last_name": "L"})

    # then
    assert created.status_code == 201
    assert created.json()["subscriber_id"] == "u1"
    assert updated.status_code == 200
    body = updated.json()
    assert (body["email"], body["first_name"], body["last_name"]) == ("ada@example.com", "Ada", "L")
    assert set(body) == {
        "subscriber_id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "locale",
        "timezone",
        "data",
        "quiet_hours",
        "created_at",
        "updated_at",
    }
    with in_schema(acme):
        assert Subscriber.objects.filter(subscriber_id="u1").count() == 1


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+1 (415) 555-0123", "+14155550123"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+4930123456", "+4930123456"),
    ],
)
def test_phone_is_stored_as_e164(acme_api, acme, given, stored):
    response = acme_api.post("/api/v1/subscribers", {"subscriber_id": "p1", "phone": given})

    assert response.status_code == 201
    assert response.json()["phone"] == stored
    with in_schema(acme):
        assert Subscriber.objects.get(subscriber_id="p1").phone == stored


@pytest.mark.parametrize("phone", ["0612345678", "+1 555", "not a phone", "+99999999999"])
def test_invalid_phone_is_a_400_naming_the_field(acme_api, acme, phone):
    response = acme_api.post("/api/v1/subscribers", {"subscriber_id": "p1", "phone": phone})

    assert response.status_code == 400
    assert error(response)["code"] == "validation_error"
    assert list(error(response)["fields"]) == ["phone"]
    with in_schema(acme):
        assert not Subscriber.objects.filter(subscriber_id="p1").exists()


@pytest.mark.parametrize("email", ["nope", "a@", "@b.com", "a b@c.com"])
def test_invalid_email_is_a_400_naming_the_field(acme_api, email):
    response = acme_api.post("/api/v1/subscribers", {"subscriber_id": "e1", "email": email})

    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["email"]


def test_unknown_fields_are_a_400_naming_them(acme_api):
    response = acme_api.post(
        "/api/v1/subscribers", {"subscriber_id": "u1", "nickname": "x", "mobile": "+1"}
    )

    assert response.status_code == 400
    assert error(response)["fields"] == {
        "mobile": ["Unknown field."],
        "nickname": ["Unknown field."],
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("locale", "english please"),
        ("locale", "e"),
        ("timezone", "Mars/Olympus"),
        ("timezone", "../../etc/passwd"),
        ("data", ["not", "an", "object"]),
        ("data", "text"),
        ("first_name", "x" * 151),
        ("subscriber_id", ""),
    ],
)
def test_invalid_fields_are_a_400_naming_them(acme_api, field, value):
    body = {"subscriber_id": "u1", field: value}

    response = acme_api.post("/api/v1/subscribers", body)

    assert response.status_code == 400
    assert list(error(response)["fields"]) == [field]


def test_subscriber_id_is_required(acme_api):
    response = acme_api.post("/api/v1/subscribers", {"email": "a@example.com"})

    assert response.status_code == 400
    assert "subscriber_id" in error(response)["fields"]


def test_locale_and_timezone_are_normalised(acme_api):
    response = acme_api.post(
        "/api/v1/subscribers",
        {"subscriber_id": "u1", "locale": "fr_ca", "timezone": "Europe/Paris", "email": ""},
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["locale"], body["timezone"], body["email"]) == ("fr-CA", "Europe/Paris", None)


def test_malformed_json_is_a_400(acme_api):
    response = acme_api.generic(
        "POST", "/api/v1/subscribers", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert error(response)["code"] == "malformed_json"


def test_requires_an_api_key(acme):
    from tests.conftest import ApiClient

    response = ApiClient(acme.host).post("/api/v1/subscribers", {"subscriber_id": "u1"})

    assert response.status_code == 401


# --- list, get, patch ----------------------------------------------------------------------


def test_list_is_paginated_newest_first(acme_api):
    for index in range(3):
        acme_api.post("/api/v1/subscribers", {"subscriber_id": f"u{index}"})

    first = acme_api.get("/api/v1/subscribers?limit=2")
    second = acme_api.get(first.json()["next"])

    assert first.status_code == 200
    assert [s["subscriber_id"] for s in first.json()["results"]] == ["u2", "u1"]
    assert [s["subscriber_id"] for s in second.json()["results"]] == ["u0"]
    assert second.json()["next"] is None


def test_list_filters_by_email(acme_api):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1", "email": "ada@example.com"})
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u2", "email": "bob@example.com"})

    response = acme_api.get("/api/v1/subscribers?email=ADA@example.com")

    assert [s["subscriber_id"] for s in response.json()["results"]] == ["u1"]


def test_get_returns_the_subscriber(acme_api):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1", "data": {"plan": "pro"}})

    response = acme_api.get("/api/v1/subscribers/u1")

    assert response.status_code == 200
    assert response.json()["data"] == {"plan": "pro"}
    assert "credentials" not in response.json()


def test_unknown_subscriber_is_a_json_404(acme_api):
    for method in ("get", "patch", "delete"):
        response = getattr(acme_api, method)("/api/v1/subscribers/nobody")
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"
    for path in (
        "/api/v1/subscribers/nobody/preferences",
        "/api/v1/subscribers/nobody/credentials/fcm",
    ):
        response = acme_api.put(path, {})
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"
    assert acme_api.get("/api/v1/subscribers/nobody/preferences").status_code == 404


def test_patch_changes_only_the_fields_sent(acme_api):
    acme_api.post(
        "/api/v1/subscribers",
        {"subscriber_id": "u1", "email": "ada@example.com", "first_name": "Ada"},
    )

    response = acme_api.patch("/api/v1/subscribers/u1", {"phone": "+1 650 253 0000", "email": None})

    assert response.status_code == 200
    body = response.json()
    assert (body["phone"], body["email"], body["first_name"]) == ("+16502530000", None, "Ada")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subscriber_id": "u2"}, "subscriber_id"),
        ({"email": "nope"}, "email"),
        ({"phone": "123"}, "phone"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_patch_validates(acme_api, body, field):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})

    response = acme_api.patch("/api/v1/subscribers/u1", body)

    assert response.status_code == 400
    assert list(error(response)["fields"]) == [field]


# --- bulk ----------------------------------------------------------------------------------


def test_bulk_upsert_counts_created_and_updated(acme_api, acme):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "old", "first_name": "Old"})

    response = acme_api.post(
        "/api/v1/subscribers/bulk",
        {
            "subscribers": [
                {"subscriber_id": "old", "email": "old@example.com"},
                {"subscriber_id": "new-1", "phone": "+1 415 555 0123"},
                {"subscriber_id": "new-2", "locale": "de", "data": {"a": 1}},
            ]
        },
    )

    assert response.status_code == 200
    assert response.json() == {"created": 2, "updated": 1}
    with in_schema(acme):
        old = Subscriber.objects.get(subscriber_id="old")
        assert (old.first_name, old.email) == ("Old", "old@example.com")
        assert Subscriber.objects.get(subscriber_id="new-1").phone == "+14155550123"
        assert Subscriber.objects.get(subscriber_id="new-2").data == {"a": 1}


def test_bulk_invalid_item_rejects_the_whole_batch(acme_api, acme):
    items = [{"subscriber_id": f"b{i}"} for i in range(5)]
    items[3]["email"] = "not-an-email"
    items[4]["shoe_size"] = 42

    response = acme_api.post("/api/v1/subscribers/bulk", {"subscribers": items})

    assert response.status_code == 400
    assert error(response)["fields"] == {
        "subscribers.3.email": ["Enter a valid email address."],
        "subscribers.4.shoe_size": ["Unknown field."],
    }
    with in_schema(acme):
        assert not Subscriber.objects.filter(subscriber_id__startswith="b").exists()


def test_bulk_over_1000_is_a_413(acme_api, acme):
    items = [{"subscriber_id": f"b{i}"} for i in range(1001)]

    response = acme_api.post("/api/v1/subscribers/bulk", {"subscribers": items})

    assert response.status_code == 413
    assert error(response)["code"] == "batch_too_large"
    with in_schema(acme):
        assert not Subscriber.objects.exists()


def test_bulk_of_1000_works(acme_api):
    items = [{"subscriber_id": f"b{i}", "email": f"b{i}@example.com"} for i in range(1000)]

    response = acme_api.post("/api/v1/subscribers/bulk", {"subscribers": items})

    assert response.status_code == 200
    assert response.json() == {"created": 1000, "updated": 0}


@pytest.mark.parametrize("body", [{}, {"subscribers": "u1"}, {"subscribers": [1]}, {"x": []}])
def test_bulk_body_is_validated(acme_api, body):
    response = acme_api.post("/api/v1/subscribers/bulk", body)

    assert response.status_code == 400
    assert error(response)["code"] == "validation_error"


def test_bulk_upsert_uses_a_constant_number_of_queries(in_acme):
    SubscriberFactory.create_batch(3)
    existing = list(Subscriber.objects.values_list("subscriber_id", flat=True))
    items = [{"subscriber_id": sid, "first_name": "Again"} for sid in existing]
    items += [{"subscriber_id": f"n{i}", "email": f"n{i}@example.com"} for i in range(300)]
    items += [{"subscriber_id": f"m{i}", "locale": "fr"} for i in range(300)]

    with CaptureQueriesContext(connection) as captured:
        created, updated = subscribers_bulk_upsert(items=items)

    # savepoint, SELECT ... FOR UPDATE, one UPDATE, one INSERT per set of fields, release
    assert len(statements(captured)) == 6
    assert (created, updated) == (600, 3)
    assert Subscriber.objects.filter(first_name="Again").count() == 3
    assert Subscriber.objects.filter(locale="fr").count() == 300


def test_bulk_upsert_merges_repeated_ids(in_acme):
    created, updated = subscribers_bulk_upsert(
        items=[
            {"subscriber_id": "dup", "email": "a@example.com"},
            {"subscriber_id": "dup", "first_name": "Ada"},
        ]
    )

    assert (created, updated) == (1, 0)
    subscriber = Subscriber.objects.get(subscriber_id="dup")
    assert (subscriber.email, subscriber.first_name) == ("a@example.com", "Ada")


def test_subscribers_ensure_creates_only_unknown_ids(in_acme):
    known = SubscriberFactory(subscriber_id="known", first_name="Kept")

    with CaptureQueriesContext(connection) as first:
        pks = subscribers_ensure(subscriber_ids=["known", "new-1", "new-2", "new-1"])
    with CaptureQueriesContext(connection) as second:
        again = subscribers_ensure(subscriber_ids=["known", "new-1"])

    assert len(statements(first)) == 3  # SELECT, INSERT of the unknown, SELECT of them
    assert len(statements(second)) == 1
    assert set(pks) == {"known", "new-1", "new-2"}
    assert pks["known"] == known.pk
    assert again == {"known": known.pk, "new-1": pks["new-1"]}
    assert Subscriber.objects.get(subscriber_id="known").first_name == "Kept"
    assert Subscriber.objects.get(subscriber_id="new-2").email is None


# --- GDPR erasure --------------------------------------------------------------------------


def test_delete_erases_the_person_but_keeps_anonymised_deliveries(acme_api, acme):
    # given: a subscriber with a topic membership, a delivery and an in-app message
    with in_schema(acme):
        subscriber = SubscriberFactory(subscriber_id="gone", email="gone@example.com")
        other = SubscriberFactory(subscriber_id="stays")
        TopicFactory(key="news").subscriptions.create(subscriber=subscriber)
        notification = Notification.objects.create(
            event="order.shipped", priority="normal", transaction_id="t-1", request_hash="h"
        )
        delivery = Delivery.objects.create(
            notification=notification,
            subscriber=subscriber,
            subscriber_ref="gone",
            channel="email",
            priority="normal",
            status="bounced",
            last_error="550 5.1.1 <gone@example.com>: no such user",
        )
        DeliveryEvent.objects.create(
            delivery=delivery, status="bounced", detail="bounce for gone@example.com"
        )
        triggered = Notification.objects.create(
            event="comment.added",
            priority="normal",
            transaction_id="t-2",
            request_hash="h",
            actor=subscriber_context(subscriber),
        )
        InboxMessage.objects.create(subscriber=subscriber, notification=notification, body="Hi")
        InboxMessage.objects.create(subscriber=other, notification=notification, body="Hi")

    # when
    response = acme_api.delete("/api/v1/subscribers/gone")

    # then
    assert response.status_code == 204
    assert response.content == b""
    assert acme_api.get("/api/v1/subscribers/gone").status_code == 404
    with in_schema(acme):
        assert not Subscriber.objects.filter(subscriber_id="gone").exists()
        assert not Subscriber.objects.filter(email="gone@example.com").exists()
        assert not TopicSubscription.objects.filter(topic__key="news").exists()
        assert list(InboxMessage.objects.values_list("subscriber__subscriber_id", flat=True)) == [
            "stays"
        ]
        delivery.refresh_from_db()
        assert delivery.subscriber_id is None
        assert delivery.subscriber_ref is None
        assert delivery.status == "bounced"
        assert "gone@example.com" not in delivery.last_error
        assert "gone@example.com" not in DeliveryEvent.objects.get(delivery=delivery).detail
        assert Delivery.objects.filter(notification=notification).count() == 1
        triggered.refresh_from_db()
        assert triggered.actor["email"] == ""
        assert triggered.actor["subscriber_id"] == ""


# --- credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "credentials"),
    [
        ("fcm", {"device_tokens": ["token-1", "token-2"]}),
        ("fcm", {"device_tokens": []}),
        (
            "webpush",
            {
                "subscriptions": [
                    {
                        "endpoint": "https://push.example/abc",
                        "keys": {"p256dh": "BNcRd", "auth": "tBHI"},
                        "expirationTime": None,
                    }
                ]
            },
        ),
        ("slack", {"webhook_url": "https://hooks.slack.com/services/T/B/X"}),
        ("webhook", {"webhook_url": "http://localhost:9000/hook"}),
    ],
)
def test_credentials_are_stored_per_provider(acme_api, acme, provider, credentials):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})

    response = acme_api.put(f"/api/v1/subscribers/u1/credentials/{provider}", credentials)

    assert response.status_code == 200
    assert response.json() == {"provider": provider, "credentials": credentials}
    with in_schema(acme):
        assert Subscriber.objects.get(subscriber_id="u1").credentials == {provider: credentials}


def test_credentials_of_several_providers_are_kept(acme_api, acme):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})

    acme_api.put("/api/v1/subscribers/u1/credentials/fcm", {"device_tokens": ["a"]})
    acme_api.put("/api/v1/subscribers/u1/credentials/slack", {"webhook_url": "https://h.example"})
    acme_api.put("/api/v1/subscribers/u1/credentials/fcm", {"device_tokens": ["b"]})

    with in_schema(acme):
        assert Subscriber.objects.get(subscriber_id="u1").credentials == {
            "fcm": {"device_tokens": ["b"]},
            "slack": {"webhook_url": "https://h.example"},
        }


@pytest.mark.parametrize(
    ("provider", "credentials", "field"),
    [
        ("sms", {"device_tokens": ["x"]}, "provider"),
        ("apns", {}, "provider"),
        ("fcm", {"device_tokens": "token"}, "device_tokens"),
        ("fcm", {"device_tokens": [""]}, "device_tokens.0"),
        ("fcm", {}, "device_tokens"),
        ("fcm", {"device_tokens": ["a"], "webhook_url": "https://x.example"}, "webhook_url"),
        ("slack", {"webhook_url": "ftp://files.example/x"}, "webhook_url"),
        ("webhook", {"webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ("webhook", {"webhook_url": "not a url"}, "webhook_url"),
        ("webpush", {"subscriptions": [{"endpoint": "https://p.example"}]}, "subscriptions.0.keys"),
        (
            "webpush",
            {"subscriptions": [{"endpoint": "https://p.example", "keys": {"p256dh": "x"}}]},
            "subscriptions.0.keys.auth",
        ),
    ],
)
def test_invalid_credentials_are_a_400(acme_api, acme, provider, credentials, field):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})

    response = acme_api.put(f"/api/v1/subscribers/u1/credentials/{provider}", credentials)

    assert response.status_code == 400
    assert error(response)["code"] == "validation_error"
    assert field in error(response)["fields"]
    with in_schema(acme):
        assert Subscriber.objects.get(subscriber_id="u1").credentials == {}


# --- preferences ---------------------------------------------------------------------------


def test_preferences_default_to_empty(acme_api):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})

    response = acme_api.get("/api/v1/subscribers/u1/preferences")

    assert response.status_code == 200
    assert response.json() == {"channels": {}, "workflows": {}}


def test_preferences_are_replaced_and_read_back(acme_api, acme):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})
    preferences = {
        "channels": {"email": True, "sms": False},
        "workflows": {"weekly-digest": {"email": False}, "security": {"in_app": True}},
    }

    put = acme_api.put("/api/v1/subscribers/u1/preferences", preferences)
    replaced = acme_api.put("/api/v1/subscribers/u1/preferences", {"channels": {"push": False}})

    assert put.status_code == 200
    assert put.json() == preferences
    assert replaced.json() == {"channels": {"push": False}, "workflows": {}}
    assert acme_api.get("/api/v1/subscribers/u1/preferences").json() == replaced.json()
    with in_schema(acme):
        assert Subscriber.objects.get(subscriber_id="u1").preferences == replaced.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channels": {"fax": True}}, "channels.fax"),
        ({"channels": {"email": "yes"}}, "channels.email"),
        ({"channels": {"email": 1}}, "channels.email"),
        ({"channels": ["email"]}, "channels"),
        ({"workflows": {"digest": {"pigeon": False}}}, "workflows.digest.pigeon"),
        ({"workflows": {"digest": {"sms": None}}}, "workflows.digest.sms"),
        ({"workflows": {"digest": True}}, "workflows.digest"),
        ({"topics": {}}, "topics"),
    ],
)
def test_invalid_preferences_are_a_400(acme_api, body, field):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})

    response = acme_api.put("/api/v1/subscribers/u1/preferences", body)

    assert response.status_code == 400
    assert field in error(response)["fields"]


# --- tenant isolation ----------------------------------------------------------------------


def test_another_tenants_subscribers_are_invisible(acme_api, globex_api, acme):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1", "email": "ada@example.com"})

    assert globex_api.get("/api/v1/subscribers/u1").status_code == 404
    assert globex_api.patch("/api/v1/subscribers/u1", {"first_name": "X"}).status_code == 404
    assert globex_api.delete("/api/v1/subscribers/u1").status_code == 404
    assert globex_api.get("/api/v1/subscribers/u1/preferences").status_code == 404
    assert globex_api.put("/api/v1/subscribers/u1/preferences", {}).status_code == 404
    put_credentials = globex_api.put(
        "/api/v1/subscribers/u1/credentials/fcm", {"device_tokens": ["t"]}
    )
    assert put_credentials.status_code == 404
    assert globex_api.get("/api/v1/subscribers").json()["results"] == []

    # The same id in globex is another subscriber altogether.
    assert globex_api.post("/api/v1/subscribers", {"subscriber_id": "u1"}).status_code == 201
    assert globex_api.get("/api/v1/subscribers/u1").json()["email"] is None
    with in_schema(acme):
        assert Subscriber.objects.get(subscriber_id="u1").email == "ada@example.com"
        assert Subscriber.objects.get(subscriber_id="u1").first_name == ""


def test_platform_host_routes_by_key(acme, acme_api):
    from tests.conftest import ApiClient

    acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"})

    response = ApiClient("localhost", acme.key).get("/api/v1/subscribers/u1")

    assert response.status_code == 200


def test_updating_moves_updated_at(acme_api):
    created = acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1"}).json()

    upserted = acme_api.post("/api/v1/subscribers", {"subscriber_id": "u1", "first_name": "A"})
    patched = acme_api.patch("/api/v1/subscribers/u1", {"last_name": "B"})

    assert upserted.json()["updated_at"] > created["updated_at"]
    assert patched.json()["updated_at"] > upserted.json()["updated_at"]
    assert patched.json()["created_at"] == created["created_at"]
