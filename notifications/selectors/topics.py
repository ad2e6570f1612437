"""Reads of topics and their membership."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from notifications.models import Topic, TopicSubscription


def topic_get(*, key: str) -> Topic | None:
    """The topic with this key, or None."""
    return Topic.objects.filter(key=key).first()


def topic_list() -> QuerySet[Topic]:
    """Every topic, each annotated with `subscriber_count`."""
    return Topic.objects.annotate(subscriber_count=Count("subscriptions"))


def topic_subscriber_count(*, topic: Topic) -> int:
    """How many subscribers the topic has."""
    return TopicSubscription.objects.filter(topic=topic).count()


def topic_subscribers_list(*, topic: Topic) -> QuerySet[TopicSubscription]:
    """The topic's memberships, with each subscriber's `subscriber_id` loaded."""
    return (
        TopicSubscription.objects.filter(topic=topic)
        .select_related("subscriber")
        .only("id", "created_at", "subscriber_id", "subscriber__subscriber_id")
    )
