"""/api/v1/topics: create, read, list, delete, and membership."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from notifications.models import Subscriber, Topic, TopicSubscription
from notifications.services.topics import topic_add_subscribers
from tests.factories import SubscriberFactory, TopicFactory


def in_schema(ctx):
    return schema_context(ctx.schema)


def error(response) -> dict:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


def members(ctx, key: str) -> set[str]:
    with in_schema(ctx):
        return set(
            TopicSubscription.objects.filter(topic__key=key).values_list(
                "subscriber__subscriber_id", flat=True
            )
        )


# --- create, get, list, delete -------------------------------------------------------------


def test_create_then_get_a_topic(acme_api):
    created = acme_api.post("/api/v1/topics", {"key": "tenant-42", "name": "Tenant 42"})
    fetched = acme_api.get("/api/v1/topics/tenant-42")

    assert created.status_code == 201
    assert created.json()["key"] == "tenant-42"
    assert created.json()["subscriber_count"] == 0
    assert fetched.status_code == 200
    body = fetched.json()
    assert (body["key"], body["name"], body["subscriber_count"]) == ("tenant-42", "Tenant 42", 0)


def test_name_is_optional(acme_api):
    response = acme_api.post("/api/v1/topics", {"key": "nameless"})

    assert response.status_code == 201
    assert response.json()["name"] == ""


def test_duplicate_key_is_a_409(acme_api, acme):
    acme_api.post("/api/v1/topics", {"key": "news", "name": "News"})

    response = acme_api.post("/api/v1/topics", {"key": "news", "name": "Other"})

    assert response.status_code == 409
    assert error(response)["code"] == "topic_exists"
    with in_schema(acme):
        assert Topic.objects.get(key="news").name == "News"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No key"}, "key"),
        ({"key": ""}, "key"),
        ({"key": "has space"}, "key"),
        ({"key": "a/b"}, "key"),
        ({"key": "k" * 101}, "key"),
        ({"key": "ok", "name": "n" * 201}, "name"),
        ({"key": "ok", "colour": "red"}, "colour"),
    ],
)
def test_create_validates(acme_api, body, field):
    response = acme_api.post("/api/v1/topics", body)

    assert response.status_code == 400
    assert error(response)["code"] == "validation_error"
    assert field in error(response)["fields"]


def test_list_topics_with_counts(acme_api):
    for key in ("b-topic", "a-topic", "c-topic"):
        acme_api.post("/api/v1/topics", {"key": key})
    acme_api.post("/api/v1/topics/b-topic/subscribers", {"subscribers": ["u1", "u2"]})

    first = acme_api.get("/api/v1/topics?limit=2")
    second = acme_api.get(first.json()["next"])

    assert first.status_code == 200
    assert [(t["key"], t["subscriber_count"]) for t in first.json()["results"]] == [
        ("a-topic", 0),
        ("b-topic", 2),
    ]
    assert [t["key"] for t in second.json()["results"]] == ["c-topic"]
    assert second.json()["next"] is None


def test_delete_a_topic_keeps_its_subscribers(acme_api, acme):
    acme_api.post("/api/v1/topics", {"key": "news"})
    acme_api.post("/api/v1/topics/news/subscribers", {"subscribers": ["u1"]})

    response = acme_api.delete("/api/v1/topics/news")

    assert response.status_code == 204
    assert acme_api.get("/api/v1/topics/news").status_code == 404
    with in_schema(acme):
        assert Subscriber.objects.filter(subscriber_id="u1").exists()
        assert not TopicSubscription.objects.exists()


def test_unknown_topic_is_a_json_404(acme_api):
    responses = [
        acme_api.get("/api/v1/topics/nope"),
        acme_api.delete("/api/v1/topics/nope"),
        acme_api.get("/api/v1/topics/nope/subscribers"),
        acme_api.post("/api/v1/topics/nope/subscribers", {"subscribers": ["u1"]}),
        acme_api.delete("/api/v1/topics/nope/subscribers", {"subscribers": ["u1"]}),
    ]

    for response in responses:
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"


# --- membership ----------------------------------------------------------------------------


def test_adding_creates_unknown_subscribers_bare(acme_api, acme):
    acme_api.post("/api/v1/subscribers", {"subscriber_id": "known", "email": "k@example.com"})
    acme_api.post("/api/v1/topics", {"key": "news"})

    response = acme_api.post(
        "/api/v1/topics/news/subscribers", {"subscribers": ["known", "new-1", "new-2"]}
    )

    assert response.status_code == 200
    assert response.json() == {"added": 3}
    assert members(acme, "news") == {"known", "new-1", "new-2"}
    with in_schema(acme):
        new = Subscriber.objects.get(subscriber_id="new-1")
        assert (new.email, new.phone, new.first_name, new.data) == (None, None, "", {})
        assert Subscriber.objects.get(subscriber_id="known").email == "k@example.com"
    assert acme_api.get("/api/v1/subscribers/new-2").status_code == 200


def test_added_and_removed_counts_are_honest_on_repeats(acme_api, acme):
    acme_api.post("/api/v1/topics", {"key": "news"})

    first = acme_api.post("/api/v1/topics/news/subscribers", {"subscribers": ["a", "b", "a"]})
    again = acme_api.post("/api/v1/topics/news/subscribers", {"subscribers": ["a", "b", "c"]})
    removed = acme_api.delete(
        "/api/v1/topics/news/subscribers", {"subscribers": ["a", "c", "never-seen"]}
    )
    removed_again = acme_api.delete("/api/v1/topics/news/subscribers", {"subscribers": ["a", "c"]})

    assert first.json() == {"added": 2}
    assert again.json() == {"added": 1}
    assert removed.status_code == 200
    assert removed.json() == {"removed": 2}
    assert removed_again.json() == {"removed": 0}
    assert members(acme, "news") == {"b"}
    assert acme_api.get("/api/v1/topics/news").json()["subscriber_count"] == 1
    with in_schema(acme):
        # Removing never creates subscribers, nor deletes them.
        assert not Subscriber.objects.filter(subscriber_id="never-seen").exists()
        assert Subscriber.objects.filter(subscriber_id="a").exists()


def test_subscriber_count(acme_api):
    acme_api.post("/api/v1/topics", {"key": "news"})
    acme_api.post("/api/v1/topics", {"key": "other"})
    acme_api.post("/api/v1/topics/news/subscribers", {"subscribers": [f"u{i}" for i in range(7)]})
    acme_api.post("/api/v1/topics/other/subscribers", {"subscribers": ["u1"]})

    assert acme_api.get("/api/v1/topics/news").json()["subscriber_count"] == 7
    assert acme_api.get("/api/v1/topics/other").json()["subscriber_count"] == 1


def test_list_a_topics_subscribers(acme_api):
    acme_api.post("/api/v1/topics", {"key": "news"})
    acme_api.post("/api/v1/topics/news/subscribers", {"subscribers": ["u1", "u2", "u3"]})

    first = acme_api.get("/api/v1/topics/news/subscribers?limit=2")
    second = acme_api.get(first.json()["next"])

    assert first.status_code == 200
    ids = [row["subscriber_id"] for row in first.json()["results"] + second.json()["results"]]
    assert sorted(ids) == ["u1", "u2", "u3"]
    assert set(first.json()["results"][0]) == {"subscriber_id", "subscribed_at"}
    assert second.json()["next"] is None


def test_erasing_a_subscriber_removes_its_memberships(acme_api):
    acme_api.post("/api/v1/topics", {"key": "news"})
    acme_api.post("/api/v1/topics/news/subscribers", {"subscribers": ["u1", "u2"]})

    acme_api.delete("/api/v1/subscribers/u1")

    assert acme_api.get("/api/v1/topics/news").json()["subscriber_count"] == 1


@pytest.mark.parametrize("method", ["post", "delete"])
def test_more_than_1000_ids_is_a_413(acme_api, acme, method):
    acme_api.post("/api/v1/topics", {"key": "news"})
    ids = [f"u{i}" for i in range(1001)]

    response = getattr(acme_api, method)("/api/v1/topics/news/subscribers", {"subscribers": ids})

    assert response.status_code == 413
    assert error(response)["code"] == "batch_too_large"
    with in_schema(acme):
        assert not Subscriber.objects.exists()


def test_1000_ids_are_accepted(acme_api):
    acme_api.post("/api/v1/topics", {"key": "news"})

    response = acme_api.post(
        "/api/v1/topics/news/subscribers", {"subscribers": [f"u{i}" for i in range(1000)]}
    )

    assert response.json() == {"added": 1000}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "subscribers"),
        ({"subscribers": "u1"}, "subscribers"),
        ({"subscribers": [""]}, "subscribers.0"),
        ({"subscribers": [{"subscriber_id": "u1"}]}, "subscribers.0"),
        ({"subscribers": ["u1"], "extra": 1}, "extra"),
    ],
)
def test_membership_body_is_validated(acme_api, acme, body, field):
    acme_api.post("/api/v1/topics", {"key": "news"})

    response = acme_api.post("/api/v1/topics/news/subscribers", body)

    assert response.status_code == 400
    assert field in error(response)["fields"]
    assert members(acme, "news") == set()


def test_add_subscribers_uses_a_constant_number_of_queries(in_acme, django_assert_max_num_queries):
    topic = TopicFactory()
    SubscriberFactory.create_batch(5)
    ids = list(Subscriber.objects.values_list("subscriber_id", flat=True)) + [
        f"new-{i}" for i in range(500)
    ]

    # Each statement is preceded by django-tenants' SET search_path: 2 per statement.
    with django_assert_max_num_queries(2 * 8):
        added = topic_add_subscribers(topic=topic, subscriber_ids=ids)

    assert added == 505
    assert TopicSubscription.objects.filter(topic=topic).count() == 505


# --- tenant isolation ----------------------------------------------------------------------


def test_another_tenants_topics_are_invisible(acme_api, globex_api, acme):
    acme_api.post("/api/v1/topics", {"key": "news", "name": "Acme news"})
    acme_api.post("/api/v1/topics/news/subscribers", {"subscribers": ["u1"]})

    assert globex_api.get("/api/v1/topics/news").status_code == 404
    assert globex_api.get("/api/v1/topics/news/subscribers").status_code == 404
    add = globex_api.post("/api/v1/topics/news/subscribers", {"subscribers": ["x"]})
    remove = globex_api.delete("/api/v1/topics/news/subscribers", {"subscribers": ["u1"]})
    assert (add.status_code, remove.status_code) == (404, 404)
    assert globex_api.delete("/api/v1/topics/news").status_code == 404
    assert globex_api.get("/api/v1/topics").json()["results"] == []
    assert globex_api.get("/api/v1/subscribers/u1").status_code == 404

    # The same key in globex is a different topic.
    assert globex_api.post("/api/v1/topics", {"key": "news"}).status_code == 201
    assert globex_api.get("/api/v1/topics/news").json()["subscriber_count"] == 0
    assert members(acme, "news") == {"u1"}
