"""Writes to topics and their membership."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from notifications.models import Topic, TopicSubscription
from notifications.services.ids import TOPIC_KEY_MAX_LENGTH, id_normalize, id_problem
from notifications.services.subscribers import subscribers_ensure
from platform_core.errors import ApplicationError, ErrorKind, validation_error

# Subscriber ids per add/remove call.
TOPIC_MEMBERSHIP_LIMIT = 1000


def topic_create(*, key: str, name: str = "") -> Topic:
    """Create a topic; ApplicationError `topic_exists` (a conflict) if the key is taken."""
    key = id_normalize(key)
    problem = id_problem(key, max_length=TOPIC_KEY_MAX_LENGTH)
    if problem:
        raise validation_error({"key": [problem]})
    try:
        with transaction.atomic():
            return Topic.objects.create(key=key, name=name or "")
    except IntegrityError:
        raise ApplicationError(
            "topic_exists",
            "A topic with this key already exists.",
            kind=ErrorKind.CONFLICT,
            fields={"key": ["A topic with this key already exists."]},
        ) from None


def _check_limit(subscriber_ids: list[str]) -> None:
    if len(subscriber_ids) > TOPIC_MEMBERSHIP_LIMIT:
        raise ApplicationError(
            "batch_too_large",
            f"At most {TOPIC_MEMBERSHIP_LIMIT} subscribers per call.",
            kind=ErrorKind.TOO_LARGE,
        )


def topic_add_subscribers(*, topic: Topic, subscriber_ids: Iterable[str]) -> int:
    """Add subscribers to a topic, creating unknown ids bare; how many were newly added."""
    wanted = list(dict.fromkeys(subscriber_ids))
    _check_limit(wanted)
    if not wanted:
        return 0
    with transaction.atomic():
        # Serialise membership changes of one topic, so the count returned is exact.
        list(Topic.objects.select_for_update().filter(pk=topic.pk).values_list("pk"))
        pks = subscribers_ensure(subscriber_ids=wanted)
        already = set(
            TopicSubscription.objects.filter(
                topic=topic, subscriber_id__in=list(pks.values())
            ).values_list("subscriber_id", flat=True)
        )
        new = [pk for pk in pks.values() if pk not in already]
        TopicSubscription.objects.bulk_create(
            [TopicSubscription(topic=topic, subscriber_id=pk) for pk in new],
            ignore_conflicts=True,
        )
    return len(new)


def topic_remove_subscribers(*, topic: Topic, subscriber_ids: Iterable[str]) -> int:
    """Remove subscribers from a topic (unknown ids are ignored); how many were removed."""
    wanted = list(dict.fromkeys(id_normalize(subscriber_id) for subscriber_id in subscriber_ids))
    _check_limit(wanted)
    if not wanted:
        return 0
    removed, _ = TopicSubscription.objects.filter(
        topic=topic, subscriber__subscriber_id__in=wanted
    ).delete()
    return removed


def topic_delete(*, topic: Topic) -> None:
    """Delete a topic and its memberships (the subscribers stay)."""
    topic.delete()
