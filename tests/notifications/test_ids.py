"""Path-safe ids: subscriber ids, topic keys and template keys follow one rule on write; ids
are normalised the same way on write and on lookup; subscribers stored before the rule with
unsafe ids (a `/`) can still be read, updated and erased through the API."""

from __future__ import annotations

import pytest

from notifications.models import InboxMessage, Notification, Subscriber, Template, Topic
from tests.factories import SubscriberFactory, TopicFactory
from tests.notifications.pipeline_helpers import make_workflow

UNSAFE = ["a/b", "a b", "a?b", "a#b", "a%2Fb", "ü-1", "x" * 256, ".", "..", "a\\b", "<a>"]
SAFE = ["user-1", "ada@example.com", "ada+test@example.com", "auth0:42", "A.b_C-9", "x" * 255]


def error(response) -> dict:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


# --- the rule, on write -------------------------------------------------------------------


@pytest.mark.parametrize("subscriber_id", UNSAFE)
def test_an_unsafe_subscriber_id_is_refused_on_create_naming_the_field(
    acme_api, in_acme, subscriber_id
):
    response = acme_api.post("/api/v1/subscribers", {"subscriber_id": subscriber_id})

    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["subscriber_id"]
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("subscriber_id", SAFE)
def test_a_safe_subscriber_id_is_created_and_read_back_by_its_path(
    acme_api, in_acme, subscriber_id
):
    assert acme_api.post("/api/v1/subscribers", {"subscriber_id": subscriber_id}).status_code == 201

    response = acme_api.get(f"/api/v1/subscribers/{subscriber_id}")

    assert response.status_code == 200
    assert response.json()["subscriber_id"] == subscriber_id


def test_bulk_upsert_names_the_item_with_the_unsafe_id(acme_api, in_acme):
    response = acme_api.post(
        "/api/v1/subscribers/bulk",
        {"subscribers": [{"subscriber_id": "ok-1"}, {"subscriber_id": "not/ok"}]},
    )

    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["subscribers.1.subscriber_id"]
    assert not Subscriber.objects.exists()


def test_unknown_unsafe_ids_are_refused_where_they_would_be_created(acme_api, in_acme):
    event = make_workflow("ids", [{"channel": "in_app"}])
    topic = TopicFactory(key="news")

    trigger = acme_api.post("/api/v1/events/trigger", {"event": event, "to": ["new/one"]})
    actor = acme_api.post(
        "/api/v1/events/trigger", {"event": event, "to": ["ok"], "actor": "new/actor"}
    )
    members = acme_api.post(f"/api/v1/topics/{topic.key}/subscribers", {"subscribers": ["x/y"]})

    assert trigger.status_code == 400 and list(error(trigger)["fields"]) == ["to"]
    assert actor.status_code == 400 and list(error(actor)["fields"]) == ["actor"]
    assert members.status_code == 400 and list(error(members)["fields"]) == ["subscribers"]
    assert not Notification.objects.exists()
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("key", ["a/b", "a b", "a?b", "a%b", ".", "..", "k" * 101])
def test_an_unsafe_topic_key_is_refused(acme_api, in_acme, key):
    response = acme_api.post("/api/v1/topics", {"key": key, "name": "News"})

    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["key"]
    assert not Topic.objects.exists()


@pytest.mark.parametrize("key", ["news", "tenant:42", "team@acme", "a+b", "k" * 100])
def test_a_safe_topic_key_is_created_and_read_by_its_path(acme_api, in_acme, key):
    assert acme_api.post("/api/v1/topics", {"key": key, "name": "News"}).status_code == 201

    response = acme_api.get(f"/api/v1/topics/{key}")

    assert response.status_code == 200 and response.json()["key"] == key


@pytest.mark.parametrize("key", ["a/b", "a b", "a:b", "-a", "k" * 101])
def test_an_unsafe_template_key_is_refused(acme_api, in_acme, key):
    response = acme_api.post(
        "/api/v1/templates", {"key": key, "channel": "in_app", "body": "Hello"}
    )

    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["key"]
    assert not Template.objects.exists()


def test_the_template_service_refuses_an_unsafe_key_whoever_calls_it(in_acme):
    from notifications.services.config import template_upsert
    from platform_core.errors import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        template_upsert(key="a/b", channel="in_app", locale="en", body="Hello")

    assert list(caught.value.fields) == ["key"]
    assert not Template.objects.exists()


def test_the_rules_are_in_the_openapi_schema(acme_api):
    schema = acme_api.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    subscriber = components["SubscriberInputRequest"]["properties"]["subscriber_id"]
    topic = components["TopicInputRequest"]["properties"]["key"]
    (path_id,) = schema["paths"]["/api/v1/subscribers/{subscriber_id}"]["get"]["parameters"]

    for described in (subscriber, topic, path_id):
        assert "letters, digits and - _ . : @ +" in described["description"]
    assert "%2F" in path_id["description"]


# --- normalisation: the same on write and on lookup -----------------------------------------


def test_ids_are_trimmed_on_write_and_on_lookup_alike(acme_api, in_acme):
    # given ids written with surrounding spaces, everywhere an id is written
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "  user-1 "})
    acme_api.post("/api/v1/topics", {"key": " news ", "name": "News"})
    event = make_workflow("trim", [{"channel": "in_app"}])
    acme_api.post("/api/v1/events/trigger", {"event": event, "to": [" user-2 "]})

    # then they are stored trimmed
    assert set(Subscriber.objects.values_list("subscriber_id", flat=True)) == {"user-1", "user-2"}
    assert list(Topic.objects.values_list("key", flat=True)) == ["news"]

    # and lookups with the same spaces find them
    assert acme_api.get("/api/v1/subscribers/%20user-1%20").json()["subscriber_id"] == "user-1"
    assert acme_api.get("/api/v1/subscribers/user-2%20/preferences").status_code == 200
    assert acme_api.get("/api/v1/topics/%20news").json()["key"] == "news"
    added = acme_api.post("/api/v1/topics/news/subscribers", {"subscribers": [" user-1 "]})
    assert added.json() == {"added": 1}
    removed = acme_api.delete("/api/v1/topics/news/subscribers", {"subscribers": ["user-1 "]})
    assert removed.json() == {"removed": 1}
    assert acme_api.get("/api/v1/inbox/%20user-1/count").json() == {"unread": 0, "unseen": 0}
    assert Subscriber.objects.count() == 2


# --- subscribers stored before the rule -----------------------------------------------------


@pytest.fixture
def legacy(in_acme):
    """A subscriber written before the id rule (directly in the database, as old data is)."""
    subscriber = SubscriberFactory(subscriber_id="org/42/user 7", email="old@example.com")
    InboxMessage.objects.create(subscriber=subscriber, title="Hi", body="Hello")
    return subscriber


@pytest.mark.parametrize("path", ["org/42/user%207", "org%2F42%2Fuser%207"])
def test_a_legacy_subscriber_is_read_updated_and_erased_by_its_path(acme_api, legacy, path):
    read = acme_api.get(f"/api/v1/subscribers/{path}")
    assert read.status_code == 200 and read.json()["subscriber_id"] == "org/42/user 7"

    updated = acme_api.patch(f"/api/v1/subscribers/{path}", {"first_name": "Augusta"})
    assert updated.status_code == 200 and updated.json()["first_name"] == "Augusta"

    preferences = acme_api.put(
        f"/api/v1/subscribers/{path}/preferences", {"channels": {"email": False}}
    )
    assert preferences.status_code == 200
    credentials = acme_api.put(
        f"/api/v1/subscribers/{path}/credentials/fcm", {"device_tokens": ["t-1"]}
    )
    assert credentials.status_code == 200

    erased = acme_api.delete(f"/api/v1/subscribers/{path}")
    assert erased.status_code == 204
    assert not Subscriber.objects.exists()
    assert not InboxMessage.objects.exists()
    assert acme_api.get(f"/api/v1/subscribers/{path}").status_code == 404


def test_a_legacy_subscriber_can_still_be_named_wherever_an_id_is_taken(acme_api, legacy):
    event = make_workflow("legacy", [{"channel": "in_app"}])
    topic = TopicFactory(key="news")

    upserted = acme_api.post(
        "/api/v1/subscribers", {"subscriber_id": legacy.subscriber_id, "last_name": "King"}
    )
    triggered = acme_api.post(
        "/api/v1/events/trigger", {"event": event, "to": [legacy.subscriber_id]}
    )
    added = acme_api.post(
        f"/api/v1/topics/{topic.key}/subscribers", {"subscribers": [legacy.subscriber_id]}
    )

    assert upserted.status_code == 200 and upserted.json()["last_name"] == "King"
    assert triggered.status_code == 202
    assert added.json() == {"added": 1}
    assert Subscriber.objects.count() == 1


def test_a_sub_resource_path_is_not_mistaken_for_a_legacy_id(acme_api, in_acme):
    SubscriberFactory(subscriber_id="user-1")

    # `user-1/preferences` is user-1's preferences, not a subscriber of that id
    response = acme_api.get("/api/v1/subscribers/user-1/preferences")

    assert response.status_code == 200
    assert set(response.json()) == {"channels", "workflows"}
    assert acme_api.get("/api/v1/subscribers/nobody/else").status_code == 404
