"""The outcome move: provider events and tracked clicks applied where the table of moves
allows, recorded otherwise; never backwards; a replay changes nothing."""

from __future__ import annotations

import pytest

from notifications.models import DeliveryEvent, Integration
from notifications.pipeline.state import (
    MOVES,
    OUTCOME_STATUS,
    deliveries_record_outcome,
    delivery_record_outcome,
)
from tests.notifications import feedback_helpers as fb


@pytest.fixture
def integration(in_acme) -> Integration:
    return Integration.objects.create(
        channel="email",
        provider="anymail:postmark",
        name="Postmark",
        settings={"from_email": "noreply@acme.example"},
    )


def rows(delivery) -> list[tuple[str, str, str]]:
    return list(
        DeliveryEvent.objects.filter(delivery=delivery)
        .order_by("id")
        .values_list("from_status", "status", "detail")
    )


def test_every_outcome_status_is_reachable_only_forwards_in_the_table():
    for status in OUTCOME_STATUS.values():
        assert "sent" in {s for s, targets in MOVES.items() if status in targets}
    assert MOVES["clicked"] == frozenset()
    assert MOVES["bounced"] == frozenset()


def test_outcomes_move_forwards_and_a_late_one_is_recorded_without_moving_back(integration):
    delivery = fb.sent_delivery(integration, "m-1")

    steps = [
        delivery_record_outcome(
            delivery_id=delivery.pk, outcome=outcome, event_key=key, detail=outcome
        )
        for outcome, key in [
            ("opened", "open-1"),
            ("clicked", "click-1"),
            ("delivered", "delivered-1"),  # late: after the click
            ("bounced", "bounce-1"),  # late too
        ]
    ]

    assert steps == [
        ("sent", "opened"),
        ("opened", "clicked"),
        ("clicked", "clicked"),
        ("clicked", "clicked"),
    ]
    delivery.refresh_from_db()
    assert delivery.status == "clicked"
    assert rows(delivery) == [
        ("sent", "opened", "opened"),
        ("opened", "clicked", "clicked"),
        ("clicked", "clicked", "delivered"),
        ("clicked", "clicked", "bounced"),
    ]


@pytest.mark.parametrize("outcome", ["soft_bounced", "deferred", "complained", "unsubscribed"])
def test_other_outcomes_are_recorded_without_a_status_change(integration, outcome):
    delivery = fb.sent_delivery(integration, "m-2")

    result = delivery_record_outcome(
        delivery_id=delivery.pk, outcome=outcome, event_key="e-1", detail=f"postmark: {outcome}"
    )

    assert result == ("sent", "sent")
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert rows(delivery) == [("sent", "sent", f"postmark: {outcome}")]


def test_a_replayed_event_changes_nothing(integration):
    delivery = fb.sent_delivery(integration, "m-3")
    first = delivery_record_outcome(
        delivery_id=delivery.pk, outcome="delivered", event_key="sg:abc", detail="delivered"
    )
    delivery.refresh_from_db()
    updated_at = delivery.updated_at

    again = delivery_record_outcome(
        delivery_id=delivery.pk, outcome="delivered", event_key="sg:abc", detail="delivered"
    )

    assert first == ("sent", "delivered")
    assert again is None
    delivery.refresh_from_db()
    assert delivery.updated_at == updated_at
    assert rows(delivery) == [("sent", "delivered", "delivered")]


def test_a_batch_records_each_delivery_and_repeated_ones_in_turn(integration):
    a, b = fb.sent_delivery(integration, "m-4"), fb.sent_delivery(integration, "m-5")
    queued = fb.sent_delivery(integration, "m-6", status="queued")

    recorded = deliveries_record_outcome(
        outcome="clicked",
        records=[
            (a.pk, "click:1", "link 1"),
            (b.pk, "click:1", "link 1"),
            (a.pk, "click:2", "link 2"),
            (queued.pk, "click:1", "link 1"),
        ],
    )

    assert sorted(recorded) == sorted(
        [
            (a.pk, "sent", "clicked"),
            (b.pk, "sent", "clicked"),
            (a.pk, "clicked", "clicked"),
            (queued.pk, "queued", "queued"),
        ]
    )
    assert [r[:2] for r in rows(a)] == [("sent", "clicked"), ("clicked", "clicked")]
    queued.refresh_from_db()
    assert queued.status == "queued"


def test_the_suppression_check_is_one_query_per_batch_however_large(integration):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.models import Suppression
    from notifications.pipeline.sending.prepare import BatchPreparer

    def skip_reasons(count: int) -> tuple[list[str], int]:
        deliveries = [
            fb.sent_delivery(integration, f"q-{count}-{n}", email=f"User{n}@example.com")
            for n in range(count)
        ]
        batch = BatchPreparer(delivery_ids=[d.pk for d in deliveries], channel="email")
        with CaptureQueriesContext(connection) as queries:
            reasons = [
                batch.skip_reason(delivery_id=d.pk, subscriber_pk=d.subscriber_id)
                for d in deliveries
            ]
        # django-tenants sets the search path on each cursor; the statements are what count
        return reasons, len([q for q in queries if not q["sql"].startswith("SET search_path")])

    Suppression.objects.create(channel="email", address="user1@example.com", reason="complaint")

    small, small_queries = skip_reasons(3)
    large, large_queries = skip_reasons(30)

    assert small == ["", "the address is suppressed (spam complaint)", ""]
    assert large[1] == "the address is suppressed (spam complaint)"
    assert large.count("") == 29
    # the batch's send-condition query and its suppression query, for any number of deliveries
    assert small_queries == large_queries == 2
