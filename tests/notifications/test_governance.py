"""Send governance through real workers: throttles per subscriber (counted atomically in Redis
by racing worker processes) and provider rate limits (a shared bucket; what has no token is
rescheduled in the database and woken by the sweeper).

The sends run on a worker of this module's own (the `low` queue) with four processes; sweeps
are asked of the suite's worker as beat would; providers are fake servers at the network.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from notifications.models import (
    Delivery,
    DeliveryEvent,
    InboxMessage,
    Integration,
    Notification,
    Throttle,
)
from tests.notifications.pipeline_helpers import (
    low_queue_worker,
    make_topic,
    make_workflow,
    smtp_integration,
    statuses,
    sweeping_until,
    twilio_integration,
    wait_until,
)

pytestmark = pytest.mark.worker

PROCESSES = 4


@pytest.fixture(scope="module")
def governed_worker(celery_worker):
    """Several worker processes on `low`, so that sends of one subscriber race each other."""
    with low_queue_worker("governance", concurrency=PROCESSES) as proc:
        yield proc


@pytest.fixture
def throttle(live):
    """Makes throttles in the committed tenant, deleted after the test: one left behind would
    limit every later test's subscribers."""
    made = []

    def make(**fields) -> Throttle:
        made.append(Throttle.objects.create(**fields))
        return made[-1]

    yield make
    Throttle.objects.filter(pk__in=[t.pk for t in made]).delete()


def trigger_many(api, event: str, subscriber: dict, count: int, unique: str) -> list[str]:
    """`count` notifications of `event` to one subscriber, accepted by one request."""
    events = [
        {"event": event, "to": [subscriber], "payload": {"order_id": f"T-{n}"},
         "transaction_id": f"{unique}-{n}"}
        for n in range(count)
    ]  # fmt: skip
    response = api.post("/api/v1/events/bulk", {"events": events})
    assert response.status_code == 202, response.content
    return [result["notification_id"] for result in response.json()["results"]]


def settled(notification_ids) -> dict[str, int]:
    """Statuses of the notifications' deliveries once every notification is fanned out and
    none of its deliveries is waiting or under way."""
    done = Notification.objects.filter(pk__in=notification_ids, status="processed").count()
    if done < len(notification_ids):
        return {}
    rows = Delivery.objects.filter(notification_id__in=notification_ids)
    if rows.filter(status__in=["pending", "queued", "sending", "failed"]).exists():
        return {}
    return Counter(rows.values_list("status", flat=True))


@pytest.mark.parametrize("triggers", [5, 12])
def test_three_sms_per_subscriber_per_hour(
    governed_worker, live, live_api, http_server, unique, throttle, triggers
):
    # given: a throttle of 3 SMS per subscriber per hour, and another subscriber untouched
    twilio_integration(http_server)
    http_server.respond(201, {"sid": "SM-throttled"})
    event = make_workflow(unique, [{"channel": "sms"}], priority="low")
    throttle(key=f"sms-3-per-hour-{unique}", limit=3, window_seconds=3600, channel="sms")
    person = {"subscriber_id": f"t-{unique}", "phone": "+14155550101"}

    # when: the triggers are accepted at once and their sends race on several processes
    ids = trigger_many(live_api, event, person, triggers, unique)
    other = trigger_many(
        live_api, event, {"subscriber_id": f"o-{unique}", "phone": "+14155550102"}, 1, unique + "o"
    )
    outcome = wait_until(lambda: settled(ids + other), timeout=30, what="every send to settle")

    # then: exactly three SMS reached the provider for the subscriber, never a fourth
    sent_to = Counter(r.form()["To"][0] for r in http_server.requests)
    assert sent_to == {"+14155550101": 3, "+14155550102": 1}
    assert outcome == {"sent": 4, "skipped": triggers - 3}
    label = f"'sms-3-per-hour-{unique}' (3 per 3600 s)"
    for delivery in Delivery.objects.filter(notification_id__in=ids, status="skipped"):
        assert delivery.last_error == f"throttled by {label}"
        view = live_api.get(f"/api/v1/deliveries/{delivery.pk}").json()
        assert view["last_error"] == f"throttled by {label}"
        assert [e["detail"] for e in view["events"] if e["status"] == "skipped"] == [
            f"throttled by {label}"
        ]


def test_in_app_throttles_by_workflow_and_critical_bypass(
    governed_worker, live, live_api, unique, throttle
):
    # given: at most 2 in-app messages per subscriber per hour from the `news` workflow
    news = make_workflow(f"{unique}-news", [{"channel": "in_app"}], priority="low")
    alerts = make_workflow(f"{unique}-alerts", [{"channel": "in_app"}], priority="low")
    topic, people = make_topic(unique, 3)
    throttle(key=f"news-{unique}", limit=2, window_seconds=3600, channel="in_app",
             workflow_key=f"wf-{unique}-news")  # fmt: skip

    def send(event, n, **extra):
        body = {"event": event, "to": [{"topic": topic}], "payload": {"order_id": n}, **extra}
        response = live_api.post("/api/v1/events/trigger", body)
        assert response.status_code == 202, response.content
        return response.json()["notification_id"]

    # when: three news to the topic, one alert, and one news sent at critical priority
    ids = [send(news, n) for n in range(3)]
    ids.append(send(alerts, "A"))
    ids.append(send(news, "C", priority="critical"))
    outcome = wait_until(lambda: settled(ids), timeout=30, what="every send to settle")

    # then: each subscriber got 2 news, the alert and the critical news; 1 news skipped each
    assert outcome == {"sent": 3 * 4, "skipped": 3}
    inbox = Counter(
        InboxMessage.objects.filter(notification_id__in=ids).values_list(
            "subscriber__subscriber_id", flat=True
        )
    )
    assert inbox == dict.fromkeys(people, 4)
    skipped = Delivery.objects.filter(notification_id__in=ids, status="skipped")
    assert {d.last_error for d in skipped} == {f"throttled by 'news-{unique}' (2 per 3600 s)"}


def test_a_critical_workflow_is_throttled_only_when_the_throttle_says_so(
    governed_worker, live, live_api, unique, throttle
):
    event = make_workflow(unique, [{"channel": "in_app"}], priority="low", critical=True)
    person = {"subscriber_id": f"c-{unique}"}
    one = throttle(key=f"one-{unique}", limit=1, window_seconds=3600,
                   workflow_key=f"wf-{unique}")  # fmt: skip
    first = trigger_many(live_api, event, person, 2, unique)
    assert wait_until(lambda: settled(first), timeout=20) == {"sent": 2}

    one.applies_to_critical = True
    one.save()
    second = trigger_many(live_api, event, person, 2, unique + "b")
    assert wait_until(lambda: settled(second), timeout=20) == {"sent": 1, "skipped": 1}


# --- provider rate limits -------------------------------------------------------------------

RATE, BURST, FAN_OUT, EMAILS = 20, 10, 1000, 200


def busiest_second(times: list[float]) -> int:
    """The most requests that arrived within any one second."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_a_rate_limited_sms_fan_out_keeps_to_the_rate_and_email_is_not_slowed(
    governed_worker, live, live_api, http_server, smtp_server, unique
):
    # given: an SMS integration limited to 20/s (burst 10), and an unlimited email one
    sms = twilio_integration(http_server)
    sms.settings = {**sms.settings, "rate_limit_per_second": RATE, "burst": BURST}
    sms.save()
    http_server.respond(201, {"sid": "SM-paced"})
    smtp_integration(smtp_server)
    sms_event = make_workflow(f"{unique}-sms", [{"channel": "sms"}], priority="low")
    email_event = make_workflow(f"{unique}-mail", [{"channel": "email"}], priority="low")
    sms_topic, _ = make_topic(unique, FAN_OUT, prefix=f"sms-{unique}")
    email_topic, _ = make_topic(unique, EMAILS, prefix=f"mail-{unique}")

    def send(event, topic):
        body = {"event": event, "to": [{"topic": topic}], "payload": {"order_id": "R-1"}}
        response = live_api.post("/api/v1/events/trigger", body)
        assert response.status_code == 202, response.content
        return response.json()["notification_id"]

    # when: the SMS fan-out starts, and the email fan-out right behind it
    started = time.monotonic()
    sms_id = send(sms_event, sms_topic)
    email_id = send(email_event, email_topic)
    smtp_server.wait_for(EMAILS, timeout=30)
    emails_done = time.monotonic() - started
    sweeping_until(
        lambda: statuses(sms_id).get("sent") == FAN_OUT,
        timeout=120,
        interval=0.2,
        what="every SMS to be sent",
    )
    sms_done = time.monotonic() - started

    # then: every SMS arrived exactly once, never more than rate + burst in any one second
    recipients = Counter(r.form()["To"][0] for r in http_server.requests)
    assert len(recipients) == FAN_OUT and set(recipients.values()) == {1}
    busiest = busiest_second([r.received_at for r in http_server.requests])
    assert busiest <= RATE + BURST, busiest
    assert sms_done >= (FAN_OUT - BURST) / RATE * 0.95
    # the email fan-out went at its own pace, long before the SMS one was done
    assert statuses(email_id) == {"sent": EMAILS}
    assert emails_done < sms_done / 2, (emails_done, sms_done)
    # no attempt was spent waiting for capacity, and the history says why it waited
    assert set(
        Delivery.objects.filter(notification_id=sms_id).values_list("attempts", flat=True)
    ) == {1}
    waits = DeliveryEvent.objects.filter(
        delivery__notification_id=sms_id, status="pending"
    ).values_list("detail", flat=True)
    assert waits and set(waits) == {
        f"rate limited: integration '{sms.name}' allows 20/s (burst 10); rescheduled for when "
        "capacity frees"
    }
    Integration.objects.filter(pk=sms.pk).update(active=False)
