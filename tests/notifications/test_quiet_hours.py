"""Quiet hours and send windows: the schedule (pure, `now` given), the hold of a send batch
(real PostgreSQL), and the API fields that set them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications.models import Delivery, DeliveryEvent, Notification
from notifications.pipeline.quiet_hours import (
    Window,
    WindowError,
    hold_until,
    local_instant,
    window_end_if_inside,
    window_parse,
)
from notifications.pipeline.sending.windows import deliveries_hold_outside_windows
from tests.factories import SubscriberFactory, WorkflowFactory

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def w(start: str, end: str) -> Window:
    return window_parse({"start": start, "end": end})


def at(zone: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    """An aware instant given in local wall time, as UTC."""
    return datetime(*parts, tzinfo=zone, fold=fold).astimezone(UTC)


def local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


# --- parsing ---------------------------------------------------------------------------------


def test_a_window_is_two_different_wall_times():
    assert window_parse({"start": "22:00", "end": "07:00"}).as_dict() == {
        "start": "22:00",
        "end": "07:00",
    }
    assert window_parse(None) is None


@pytest.mark.parametrize(
    "value",
    [
        {"start": "22:00", "end": "22:00"},
        {"start": "7:00", "end": "08:00"},
        {"start": "24:00", "end": "08:00"},
        {"start": "22:60", "end": "08:00"},
        {"start": "22:00"},
        {"start": "22:00", "end": "07:00", "days": [1]},
        {"start": 22, "end": 7},
        "22:00-07:00",
        ["22:00", "07:00"],
    ],
)
def test_anything_else_is_refused(value):
    with pytest.raises(WindowError):
        window_parse(value)


# --- the schedule --------------------------------------------------------------------------


def test_tokyo_at_23_is_held_until_7_the_next_morning():
    hold = hold_until(
        now=at(TOKYO, 2026, 12, 1, 23, 0),
        timezone_name="Asia/Tokyo",
        quiet_hours=w("22:00", "07:00"),
        send_window=None,
    )
    assert local(hold.until, TOKYO) == "2026-12-02 07:00 JST"
    assert hold.reason == "quiet hours until 07:00 Asia/Tokyo"


@pytest.mark.parametrize(
    ("wall", "held_until"),
    [
        ((22, 0), "2026-12-02 07:00 JST"),  # the first minute of quiet hours
        ((0, 0), "2026-12-02 07:00 JST"),  # midnight, inside a window crossing it
        ((3, 30), "2026-12-02 07:00 JST"),
        ((6, 59), "2026-12-02 07:00 JST"),
        ((7, 0), None),  # the end is not inside
        ((12, 0), None),
        ((21, 59), None),
    ],
)
def test_a_window_crossing_midnight(wall, held_until):
    day = 2 if wall[0] < 12 else 1
    hold = hold_until(
        now=at(TOKYO, 2026, 12, day, *wall),
        timezone_name="Asia/Tokyo",
        quiet_hours=w("22:00", "07:00"),
        send_window=None,
    )
    assert (local(hold.until, TOKYO) if hold else None) == held_until


@pytest.mark.parametrize(
    ("wall", "held"),
    [((12, 59), False), ((13, 0), True), ((13, 59), True), ((14, 0), False)],
)
def test_a_window_within_one_day(wall, held):
    hold = hold_until(
        now=at(TOKYO, 2026, 12, 1, *wall),
        timezone_name="Asia/Tokyo",
        quiet_hours=w("13:00", "14:00"),
        send_window=None,
    )
    assert (hold is not None) is held


def test_a_subscriber_without_a_timezone_is_scheduled_in_utc():
    for zone in ("", None, "Not/AZone"):
        hold = hold_until(
            now=datetime(2026, 12, 1, 23, 0, tzinfo=UTC),
            timezone_name=zone,
            quiet_hours=w("22:00", "07:00"),
            send_window=None,
        )
        assert hold.until == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
        assert hold.reason == "quiet hours until 07:00 UTC"


def test_the_subscribers_timezone_decides_not_the_servers():
    now = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo, 09:00 in New York
    quiet = w("22:00", "07:00")
    assert hold_until(now=now, timezone_name="Asia/Tokyo", quiet_hours=quiet, send_window=None)
    assert not hold_until(
        now=now, timezone_name="America/New_York", quiet_hours=quiet, send_window=None
    )


def test_outside_the_send_window_waits_for_it_to_open():
    hold = hold_until(
        now=at(NY, 2026, 12, 1, 6, 30),
        timezone_name="America/New_York",
        quiet_hours=None,
        send_window=w("09:00", "17:00"),
    )
    assert local(hold.until, NY) == "2026-12-01 09:00 EST"
    assert hold.reason == "outside the send window until 09:00 America/New_York"
    late = hold_until(
        now=at(NY, 2026, 12, 1, 17, 0),
        timezone_name="America/New_York",
        quiet_hours=None,
        send_window=w("09:00", "17:00"),
    )
    assert local(late.until, NY) == "2026-12-02 09:00 EST"
    assert not hold_until(
        now=at(NY, 2026, 12, 1, 16, 59),
        timezone_name="America/New_York",
        quiet_hours=None,
        send_window=w("09:00", "17:00"),
    )


def test_a_send_window_crossing_midnight():
    window = w("20:00", "02:00")
    assert not hold_until(
        now=at(NY, 2026, 12, 2, 1, 0), timezone_name=NY.key, quiet_hours=None, send_window=window
    )
    hold = hold_until(
        now=at(NY, 2026, 12, 2, 2, 0), timezone_name=NY.key, quiet_hours=None, send_window=window
    )
    assert local(hold.until, NY) == "2026-12-02 20:00 EST"


def test_quiet_hours_then_the_send_window():
    # 23:00: quiet until 07:00, and the workflow sends from 09:00 on
    hold = hold_until(
        now=at(TOKYO, 2026, 12, 1, 23, 0),
        timezone_name="Asia/Tokyo",
        quiet_hours=w("22:00", "07:00"),
        send_window=w("09:00", "21:00"),
    )
    assert local(hold.until, TOKYO) == "2026-12-02 09:00 JST"
    assert hold.reason == (
        "quiet hours until 07:00 Asia/Tokyo, then outside the send window until 09:00 Asia/Tokyo"
    )


def test_a_send_window_that_opens_inside_quiet_hours_waits_for_their_end():
    hold = hold_until(
        now=at(TOKYO, 2026, 12, 1, 20, 0),
        timezone_name="Asia/Tokyo",
        quiet_hours=w("22:00", "07:00"),
        send_window=w("21:00", "23:00"),
    )
    assert local(hold.until, TOKYO) == "2026-12-01 21:00 JST"
    # at 22:30 the window is open but quiet hours run until 07:00; it opens again at 21:00
    hold = hold_until(
        now=at(TOKYO, 2026, 12, 1, 22, 30),
        timezone_name="Asia/Tokyo",
        quiet_hours=w("22:00", "07:00"),
        send_window=w("21:00", "23:00"),
    )
    assert local(hold.until, TOKYO) == "2026-12-02 21:00 JST"


def test_when_the_send_window_lies_wholly_inside_quiet_hours_the_quiet_hours_win():
    hold = hold_until(
        now=at(TOKYO, 2026, 12, 1, 23, 0),
        timezone_name="Asia/Tokyo",
        quiet_hours=w("22:00", "07:00"),
        send_window=w("23:30", "06:00"),
    )
    assert local(hold.until, TOKYO) == "2026-12-02 07:00 JST"
    assert hold.reason == "quiet hours until 07:00 Asia/Tokyo"


# --- DST: America/New_York, spring forward 2026-03-08 02:00 EST → 03:00 EDT, fall back
# 2026-11-01 02:00 EDT → 01:00 EST ----------------------------------------------------------


def test_spring_forward_an_end_in_the_gap_is_the_end_of_the_gap():
    assert local(local_instant(datetime(2026, 3, 8).date(), w("02:30", "04:00").start, NY), NY) == (
        "2026-03-08 03:00 EDT"
    )
    hold = hold_until(
        now=at(NY, 2026, 3, 8, 0, 30),
        timezone_name=NY.key,
        quiet_hours=w("22:00", "02:30"),
        send_window=None,
    )
    assert local(hold.until, NY) == "2026-03-08 03:00 EDT"
    assert hold.reason == "quiet hours until 03:00 America/New_York"
    # the morning after, 02:30 exists again
    hold = hold_until(
        now=at(NY, 2026, 3, 9, 0, 30),
        timezone_name=NY.key,
        quiet_hours=w("22:00", "02:30"),
        send_window=None,
    )
    assert local(hold.until, NY) == "2026-03-09 02:30 EDT"


def test_spring_forward_a_night_of_quiet_hours_is_an_hour_shorter():
    # 22:00 EST → 07:00 EDT is 8 hours of real time that night, 9 the night before
    hold = hold_until(
        now=at(NY, 2026, 3, 7, 22, 0),
        timezone_name=NY.key,
        quiet_hours=w("22:00", "07:00"),
        send_window=None,
    )
    assert hold.until - at(NY, 2026, 3, 7, 22, 0) == timedelta(hours=8)
    assert local(hold.until, NY) == "2026-03-08 07:00 EDT"


def test_spring_forward_a_start_in_the_gap_starts_at_the_end_of_the_gap():
    quiet = w("02:15", "06:00")
    # 01:59 EST: not yet; 03:00 EDT (one minute later in real time): inside
    assert not hold_until(
        now=at(NY, 2026, 3, 8, 1, 59), timezone_name=NY.key, quiet_hours=quiet, send_window=None
    )
    hold = hold_until(
        now=at(NY, 2026, 3, 8, 3, 0), timezone_name=NY.key, quiet_hours=quiet, send_window=None
    )
    assert local(hold.until, NY) == "2026-03-08 06:00 EDT"


def test_fall_back_an_end_in_the_repeated_hour_is_its_first_occurrence():
    quiet = w("22:00", "01:30")
    hold = hold_until(
        now=at(NY, 2026, 11, 1, 1, 0),  # 01:00 EDT, the first pass
        timezone_name=NY.key,
        quiet_hours=quiet,
        send_window=None,
    )
    assert hold.until == at(NY, 2026, 11, 1, 1, 30)  # 01:30 EDT
    assert hold.until == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    # the second pass through 01:00-01:30 (EST) is after the quiet hours ended: not held
    second_pass = at(NY, 2026, 11, 1, 1, 10, fold=1)
    assert second_pass == datetime(2026, 11, 1, 6, 10, tzinfo=UTC)
    assert not hold_until(
        now=second_pass, timezone_name=NY.key, quiet_hours=quiet, send_window=None
    )


def test_fall_back_a_night_of_quiet_hours_is_an_hour_longer():
    hold = hold_until(
        now=at(NY, 2026, 10, 31, 22, 0),
        timezone_name=NY.key,
        quiet_hours=w("22:00", "07:00"),
        send_window=None,
    )
    assert hold.until - at(NY, 2026, 10, 31, 22, 0) == timedelta(hours=10)
    assert local(hold.until, NY) == "2026-11-01 07:00 EST"


def test_fall_back_a_send_window_opening_in_the_repeated_hour_opens_once():
    window = w("01:30", "05:00")
    hold = hold_until(
        now=at(NY, 2026, 11, 1, 0, 30), timezone_name=NY.key, quiet_hours=None, send_window=window
    )
    assert hold.until == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    # inside for the whole span from the first 01:30 to 05:00 EST, the repeated hour included
    for minutes in range(0, 270, 15):
        moment = hold.until + timedelta(minutes=minutes)
        assert window_end_if_inside(now=moment, tz=NY, window=window) == at(NY, 2026, 11, 1, 5, 0)


# --- the hold of a send batch (real PostgreSQL) ------------------------------------------------

TOKYO_23H = at(TOKYO, 2026, 12, 1, 23, 0)


def queued(*, channel="push", priority="normal", critical=False, send_window=None, **person):
    workflow = WorkflowFactory(critical=critical, send_window=send_window)
    notification = Notification.objects.create(
        event="quiet.test",
        priority=priority,
        workflow=workflow,
        transaction_id=uuid.uuid4().hex,
        request_hash="x",
    )
    return Delivery.objects.create(
        notification=notification,
        subscriber=SubscriberFactory(**person),
        step_index=0,
        channel=channel,
        priority=priority,
        status="queued",
    )


@pytest.mark.django_db
def test_a_batch_holds_what_is_due_in_quiet_hours_and_keeps_the_rest(in_acme):
    quiet = {"start": "22:00", "end": "07:00"}
    held = queued(timezone="Asia/Tokyo", quiet_hours=quiet)
    awake = queued(timezone="America/New_York", quiet_hours=quiet)  # 09:00 there
    no_quiet_hours = queued(timezone="Asia/Tokyo")
    critical_trigger = queued(priority="critical", timezone="Asia/Tokyo", quiet_hours=quiet)
    critical_workflow = queued(critical=True, timezone="Asia/Tokyo", quiet_hours=quiet)
    ids = [held.pk, awake.pk, no_quiet_hours.pk, critical_trigger.pk, critical_workflow.pk]

    left = deliveries_hold_outside_windows(ids, "push", now=TOKYO_23H)

    assert left == ids[1:]
    held.refresh_from_db()
    assert held.status == "pending"
    assert held.attempts == 0
    assert held.next_attempt_at == at(TOKYO, 2026, 12, 2, 7, 0)
    event = DeliveryEvent.objects.filter(delivery=held).latest("id")
    assert (event.from_status, event.status) == ("queued", "pending")
    assert event.detail == "quiet hours until 07:00 Asia/Tokyo"
    assert {d.status for d in Delivery.objects.filter(pk__in=ids[1:])} == {"queued"}


@pytest.mark.django_db
@pytest.mark.parametrize(("channel", "is_held"), [("email", True), ("sms", True), ("push", True),
                                                  ("in_app", False), ("chat", False)])  # fmt: skip
def test_only_email_sms_and_push_are_held(in_acme, channel, is_held):
    delivery = queued(
        channel=channel, timezone="Asia/Tokyo", quiet_hours={"start": "22:00", "end": "07:00"}
    )
    left = deliveries_hold_outside_windows([delivery.pk], channel, now=TOKYO_23H)
    assert (left == []) is is_held


@pytest.mark.django_db
def test_a_batch_holds_what_falls_outside_the_workflows_send_window(in_acme):
    delivery = queued(timezone="Asia/Tokyo", send_window={"start": "09:00", "end": "21:00"})
    assert deliveries_hold_outside_windows([delivery.pk], "email", now=TOKYO_23H) == []
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == at(TOKYO, 2026, 12, 2, 9, 0)
    assert DeliveryEvent.objects.filter(delivery=delivery).latest("id").detail == (
        "outside the send window until 09:00 Asia/Tokyo"
    )


@pytest.mark.django_db
def test_a_delivery_no_longer_queued_is_left_alone(in_acme):
    delivery = queued(timezone="Asia/Tokyo", quiet_hours={"start": "22:00", "end": "07:00"})
    Delivery.objects.filter(pk=delivery.pk).update(status="sent")
    assert deliveries_hold_outside_windows([delivery.pk], "push", now=TOKYO_23H) == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == "sent"


# --- the API ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_quiet_hours_are_set_shown_and_cleared_through_the_api(acme_api):
    created = acme_api.post(
        "/api/v1/subscribers",
        {
            "subscriber_id": "night-owl",
            "timezone": "Asia/Tokyo",
            "quiet_hours": {"start": "22:00", "end": "07:00"},
        },
    )
    assert created.status_code == 201, created.content
    assert created.json()["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    cleared = acme_api.patch("/api/v1/subscribers/night-owl", {"quiet_hours": None})
    assert cleared.status_code == 200, cleared.content
    assert acme_api.get("/api/v1/subscribers/night-owl").json()["quiet_hours"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    [{"start": "22:00", "end": "22:00"}, {"start": "10pm", "end": "07:00"}, {"start": "22:00"},
     {"start": "22:00", "end": "07:00", "tz": "UTC"}, "22:00-07:00"],
)  # fmt: skip
def test_invalid_quiet_hours_are_a_400_naming_the_field(acme_api, value):
    response = acme_api.post("/api/v1/subscribers", {"subscriber_id": "bad", "quiet_hours": value})
    assert response.status_code == 400, response.content
    assert "quiet_hours" in response.json()["error"]["fields"]
    assert acme_api.get("/api/v1/subscribers/bad").status_code == 404


@pytest.mark.django_db
def test_bulk_upsert_validates_quiet_hours(acme_api):
    response = acme_api.post(
        "/api/v1/subscribers/bulk",
        {
            "subscribers": [
                {"subscriber_id": "a", "quiet_hours": {"start": "23:00", "end": "06:30"}},
                {"subscriber_id": "b", "quiet_hours": {"start": "23:00", "end": "23:00"}},
            ]
        },
    )
    assert response.status_code == 400, response.content
    response = acme_api.post(
        "/api/v1/subscribers/bulk",
        {
            "subscribers": [
                {"subscriber_id": "a", "quiet_hours": {"start": "23:00", "end": "06:30"}}
            ]
        },
    )
    assert response.status_code == 200, response.content
    assert acme_api.get("/api/v1/subscribers/a").json()["quiet_hours"] == {
        "start": "23:00",
        "end": "06:30",
    }


@pytest.mark.django_db
def test_a_workflows_send_window_through_the_api(acme_api):
    template = acme_api.post(
        "/api/v1/templates", {"key": "sw-push", "channel": "push", "body": "Hello"}
    )
    assert template.status_code == 201, template.content
    body = {
        "key": "sw",
        "name": "Send window",
        "send_window": {"start": "09:00", "end": "20:00"},
        "steps": [{"type": "send", "channel": "push", "template": "sw-push"}],
    }
    created = acme_api.post("/api/v1/workflows", body)
    assert created.status_code == 201, created.content
    assert created.json()["send_window"] == {"start": "09:00", "end": "20:00"}
    invalid = acme_api.put(
        "/api/v1/workflows/sw", {**body, "send_window": {"start": "09:00", "end": "09:00"}}
    )
    assert invalid.status_code == 400, invalid.content
    assert "send_window" in invalid.json()["error"]["fields"]
    replaced = acme_api.put("/api/v1/workflows/sw", {**body, "send_window": None})
    assert replaced.status_code == 200, replaced.content
    assert acme_api.get("/api/v1/workflows/sw").json()["send_window"] is None
