"""Quiet hours through real workers: held in the database, woken by the sweeper, sent.

The module's worker (the `low` queue) evaluates windows on a clock shifted by
SEND_WINDOW_CLOCK_OFFSET_SECONDS so that it is a few seconds before 07:00 in Tokyo when the
test triggers; everything else (the sweeper, the database) runs on the real clock. Push goes
through the real FCM connector to a fake FCM, SMS through the real Twilio connector to a
fake Twilio.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from notifications.models import Delivery, DeliveryEvent
from tests.notifications.pipeline_helpers import (
    low_queue_worker,
    make_workflow,
    sweeping_until,
    twilio_integration,
    wait_until,
)
from tests.notifications.test_channels_end_to_end import only_integration, subscriber_with
from tests.push_clients import fake_fcm, service_account_for

pytestmark = pytest.mark.worker

TOKYO = ZoneInfo("Asia/Tokyo")
LAGOS = ZoneInfo("Africa/Lagos")  # UTC+1 all year: 22:59 there when it is 06:59 in Tokyo
PROJECT = "clarion-quiet"
# The worker's window clock shows this Tokyo time when the worker starts.
CLOCK_AT_START = (6, 59, 35)


@pytest.fixture(scope="module")
def night_worker(celery_worker):
    """A worker on `low` whose window clock is just before 07:00 in Tokyo; yields the shift."""
    now = timezone.now()
    target = datetime.combine(
        now.astimezone(TOKYO).date(), datetime.min.time().replace(*CLOCK_AT_START), tzinfo=TOKYO
    )
    shift = target - now
    with low_queue_worker(
        "night", concurrency=1, SEND_WINDOW_CLOCK_OFFSET_SECONDS=str(shift.total_seconds())
    ):
        yield shift


def fcm(api, http_server) -> None:
    account = service_account_for(PROJECT)
    fake_fcm(http_server, project=PROJECT, message_name="q-1")
    only_integration(
        api,
        "push",
        "fcm",
        {
            "project_id": PROJECT,
            "base_url": http_server.url,
            "token_url": f"{http_server.url}/token",
        },
        {"service_account_json": json.dumps(account.info)},
    )


def trigger(api, event: str, to: list[str], **extra) -> str:
    response = api.post(
        "/api/v1/events/trigger", {"event": event, "to": to, "payload": {"order_id": "Q"}, **extra}
    )
    assert response.status_code == 202, response.content
    return response.json()["notification_id"]


def delivery_of(notification_id, channel: str, subscriber_id: str) -> Delivery | None:
    return Delivery.objects.filter(
        notification_id=notification_id, channel=channel, subscriber_ref=subscriber_id
    ).first()


def status_is(notification_id, channel, subscriber_id, *wanted):
    def check():
        delivery = delivery_of(notification_id, channel, subscriber_id)
        return delivery if delivery is not None and delivery.status in wanted else None

    return check


def test_a_push_in_quiet_hours_waits_for_their_end_while_in_app_and_critical_sms_go_at_once(
    night_worker, live, live_api, http_server, unique
):
    # given: the worker's clock is a few seconds before 07:00 in Tokyo; quiet hours end at
    # the first whole minute at least 5 s away (07:00, unless the worker was slow to start)
    shift = night_worker
    clock = timezone.now() + shift
    end_local = (clock + timedelta(seconds=65)).astimezone(TOKYO).replace(second=0, microsecond=0)
    if end_local - clock > timedelta(seconds=60):
        end_local -= timedelta(minutes=1)
    quiet = {"start": "22:00", "end": end_local.strftime("%H:%M")}
    fcm(live_api, http_server)
    twilio_integration(http_server)
    http_server.respond(201, {"sid": "SM-critical"}, path_prefix="/2010-04-01/")
    tokyo, lagos = f"tokyo-{unique}", f"lagos-{unique}"
    for subscriber_id, zone in ((tokyo, "Asia/Tokyo"), (lagos, "Africa/Lagos")):
        subscriber_with(live_api, subscriber_id, "fcm", {"device_tokens": [f"{subscriber_id}-1"]})
        patched = live_api.patch(
            f"/api/v1/subscribers/{subscriber_id}",
            {"timezone": zone, "quiet_hours": quiet, "phone": "+14155550188"},
        )
        assert patched.status_code == 200, patched.content
    marketing = make_workflow(
        f"{unique}-m", [{"channel": "in_app"}, {"channel": "push"}], priority="low"
    )
    alert = make_workflow(f"{unique}-a", [{"channel": "sms"}], priority="low", critical=True)

    # when: both are triggered at the same moment
    news = trigger(live_api, marketing, [tokyo, lagos])
    urgent = trigger(live_api, alert, [tokyo])

    # then: the in-app message and the critical SMS go at once
    wait_until(status_is(news, "in_app", tokyo, "sent"), timeout=20, what="in-app sent")
    wait_until(status_is(urgent, "sms", tokyo, "sent"), timeout=20, what="critical SMS sent")
    assert len(http_server.requests_to("/2010-04-01/")) == 1
    # the pushes wait in the database, no attempt spent, scheduled for the end of quiet hours
    held = wait_until(status_is(news, "push", tokyo, "pending"), timeout=20, what="push held")
    assert clock_now(shift) < end_local, "the push must be checked while quiet hours last"
    assert http_server.requests_to("/v1/") == []
    assert held.attempts == 0
    assert same_instant(held.next_attempt_at, end_local - shift)
    detail = live_api.get(f"/api/v1/deliveries/{held.pk}").json()
    assert detail["status"] == "pending"
    assert same_instant(_parse(detail["scheduled_for"]), end_local - shift)
    assert detail["events"][-1]["from_status"] == "queued"
    assert detail["events"][-1]["detail"] == f"quiet hours until {quiet['end']} Asia/Tokyo"

    # 23:00 in Lagos: held until 07:00 there, eight hours on
    far = wait_until(status_is(news, "push", lagos, "pending"), timeout=20, what="Lagos held")
    lagos_now = clock.astimezone(LAGOS)
    lagos_morning = lagos_now.replace(hour=end_local.hour, minute=end_local.minute, second=0)
    lagos_morning = lagos_morning.replace(microsecond=0) + timedelta(days=1)
    assert lagos_morning - lagos_now > timedelta(hours=7)
    assert same_instant(far.next_attempt_at, lagos_morning - shift)
    assert DeliveryEvent.objects.filter(delivery=far).latest("id").detail == (
        f"quiet hours until {quiet['end']} Africa/Lagos"
    )

    # and once quiet hours are over, the sweeper wakes the Tokyo push and it is sent
    sent = sweeping_until(
        status_is(news, "push", tokyo, "sent", "dead"), timeout=90, what="the push to be sent"
    )
    assert sent.status == "sent", sent.last_error
    assert sent.sent_at >= end_local - shift
    [push] = http_server.requests_to("/v1/")
    assert push.json()["message"]["token"] == f"{tokyo}-1"
    assert delivery_of(news, "push", lagos).status == "pending"


def same_instant(a: datetime, b: datetime) -> bool:
    """Equal but for the shift's float rounding on its way to the worker."""
    return abs(a - b) < timedelta(milliseconds=5)


def clock_now(shift: timedelta) -> datetime:
    return timezone.now() + shift


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
