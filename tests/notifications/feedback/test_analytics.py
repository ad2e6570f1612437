"""Delivery analytics: counts grouped by day or hour, channel, event and status, and
validation of the query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications.models import Delivery, Notification

DAY1 = datetime(2026, 11, 3, 9, 15, tzinfo=UTC)
DAY1_LATER = datetime(2026, 11, 3, 17, 40, tzinfo=UTC)
DAY2 = datetime(2026, 11, 4, 0, 5, tzinfo=UTC)
OUTSIDE = datetime(2026, 11, 6, 12, 0, tzinfo=UTC)


def delivery(event: str, channel: str, status: str, created_at: datetime, n: int = 1) -> None:
    notification = Notification.objects.create(
        event=event,
        priority="normal",
        transaction_id=f"t-{Notification.objects.count()}",
        request_hash="h",
    )
    Delivery.objects.bulk_create(
        Delivery(
            notification=notification,
            subscriber_ref=f"s-{i}",
            step_index=i,
            channel=channel,
            priority="normal",
            status=status,
            created_at=created_at,
        )
        for i in range(n)
    )


@pytest.fixture
def history(in_acme):
    delivery("order.shipped", "email", "delivered", DAY1, n=3)
    delivery("order.shipped", "email", "bounced", DAY1_LATER)
    delivery("order.shipped", "sms", "sent", DAY2, n=2)
    delivery("auth.sign_in", "email", "delivered", DAY2)
    delivery("order.shipped", "email", "delivered", OUTSIDE, n=5)


RANGE = "from=2026-11-03&to=2026-11-05"


def test_rows_by_day_channel_and_status(acme_api, history):
    response = acme_api.get(f"/api/v1/analytics/deliveries?{RANGE}&group_by=day,channel,status")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "rows": [
            {"day": "2026-11-03", "channel": "email", "status": "bounced", "count": 1},
            {"day": "2026-11-03", "channel": "email", "status": "delivered", "count": 3},
            {"day": "2026-11-04", "channel": "email", "status": "delivered", "count": 1},
            {"day": "2026-11-04", "channel": "sms", "status": "sent", "count": 2},
        ]
    }


def test_rows_by_hour_and_event(acme_api, history):
    response = acme_api.get(
        "/api/v1/analytics/deliveries?from=2026-11-03T00:00:00Z&to=2026-11-04T01:00:00Z"
        "&group_by=hour,event"
    )

    assert response.json()["rows"] == [
        {"hour": "2026-11-03T09:00:00Z", "event": "order.shipped", "count": 3},
        {"hour": "2026-11-03T17:00:00Z", "event": "order.shipped", "count": 1},
        {"hour": "2026-11-04T00:00:00Z", "event": "auth.sign_in", "count": 1},
        {"hour": "2026-11-04T00:00:00Z", "event": "order.shipped", "count": 2},
    ]


def test_the_default_grouping_is_by_day(acme_api, history):
    rows = acme_api.get(f"/api/v1/analytics/deliveries?{RANGE}").json()["rows"]
    assert rows == [{"day": "2026-11-03", "count": 4}, {"day": "2026-11-04", "count": 3}]


def test_another_tenants_deliveries_are_not_counted(globex_api, history):
    assert globex_api.get(f"/api/v1/analytics/deliveries?{RANGE}").json() == {"rows": []}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("group_by=week", "group_by"),
        ("group_by=day,hour", "group_by"),
        ("group_by=channel,channel", "group_by"),
        ("from=yesterday", "from"),
        ("to=2026-13-40", "to"),
        ("from=2026-11-05&to=2026-11-03", "from"),
        ("from=2025-01-01&to=2026-11-03", "from"),
        ("from=2026-09-01&to=2026-11-03&group_by=hour", "from"),
    ],
)
def test_invalid_queries_are_400_naming_the_field(acme_api, in_acme, query, field):
    response = acme_api.get(f"/api/v1/analytics/deliveries?{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == [field]


def test_analytics_needs_an_api_key(acme, in_acme):
    from tests.conftest import ApiClient

    response = ApiClient(acme.host).get("/api/v1/analytics/deliveries")
    assert response.status_code == 401
