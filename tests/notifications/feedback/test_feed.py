"""The history feed: no event skipped when transactions commit out of id order, none told
twice, and the outcome counters on /metrics."""

from __future__ import annotations

import re

import psycopg
from django.db import connection
from django.test import Client

from notifications.models import Delivery, Notification, WebhookEndpoint, WebhookMessage
from notifications.pipeline.feedback.feed import feed_run
from tests.conftest import session_database_url

INSERT_EVENT = """
    INSERT INTO notifications_deliveryevent
        (delivery_id, created_at, from_status, status, attempt, provider, error_class, detail)
    VALUES (%s, now(), 'sending', 'sent', 1, 'test', '', '') RETURNING id
"""


def deliveries(unique: str, n: int, channel: str = "push") -> list[int]:
    notification = Notification.objects.create(
        event=f"feed.{unique}", priority="normal", transaction_id=f"feed-{unique}", request_hash="h"
    )
    rows = Delivery.objects.bulk_create(
        Delivery(
            notification=notification,
            subscriber_ref=f"s-{i}",
            step_index=i,
            channel=channel,
            priority="normal",
            status="sent",
        )
        for i in range(n)
    )
    return [row.pk for row in rows]


def metric(channel: str, outcome: str) -> float:
    text = Client().get("/metrics").content.decode()
    pattern = rf'^clarion_deliveries_total\{{channel="{channel}",outcome="{outcome}"\}} (\S+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_an_event_committed_after_a_later_id_is_not_skipped(live, unique):
    # given: an endpoint, and the feed caught up
    endpoint = WebhookEndpoint(url="https://hooks.example.com/x", events=["delivery.sent"])
    endpoint.secret = "whsec_" + "A" * 43
    endpoint.save()
    first, second = deliveries(unique, 2)
    feed_run()
    try:
        # when: a transaction writes its history row (the lower id) and stays open while
        # another commits a higher id; the feed runs in between
        other = psycopg.connect(session_database_url())
        other.execute(f"SET search_path TO {connection.schema_name}")
        early = other.execute(INSERT_EVENT, [first]).fetchone()[0]
        with connection.cursor() as sql:
            sql.execute(INSERT_EVENT, [second])
            late = sql.fetchone()[0]
        assert early < late
        feed_run()
        held_back = set(
            WebhookMessage.objects.filter(endpoint=endpoint).values_list("event_id", flat=True)
        )
        other.commit()
        other.close()
        feed_run()
        feed_run()

        # then: both told, once each
        told = list(
            WebhookMessage.objects.filter(endpoint=endpoint).values_list("event_id", flat=True)
        )
        assert held_back <= {early, late}
        assert sorted(told) == [early, late]
        documents = {
            m.event_id: m.payload for m in WebhookMessage.objects.filter(endpoint=endpoint)
        }
        assert documents[early]["type"] == "delivery.sent"
        assert documents[early]["data"]["delivery_id"] == first
        assert documents[late]["data"]["channel"] == "push"
    finally:
        endpoint.delete()


def test_outcomes_are_counted_once_on_metrics(live, unique):
    feed_run()
    before = metric("chat", "sent")
    ids = deliveries(unique, 3, channel="chat")
    with connection.cursor() as sql:
        for pk in ids:
            sql.execute(INSERT_EVENT, [pk])

    feed_run()
    feed_run()

    assert metric("chat", "sent") == before + 3
    text = Client().get("/metrics").content.decode()
    assert 'clarion_delivery_send_latency_seconds_count{channel="chat"}' in text
