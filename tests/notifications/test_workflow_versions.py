"""Workflow versions: every change is a numbered, immutable version; progressive rollout by
subscriber hash, promote and rollback; deliveries record the version they ran."""

from __future__ import annotations

from collections import Counter

import pytest

from notifications.models import (
    Delivery,
    InboxMessage,
    Subscriber,
    Template,
    Topic,
    TopicSubscription,
    Workflow,
)
from notifications.pipeline.fanout import rollout_bucket
from tests.notifications.pipeline_helpers import (
    make_workflow,
    notification_done,
    sweeping_until,
    wait_until,
)

# --- the API (no workers) -------------------------------------------------------------------


@pytest.fixture
def templates(acme_api):
    for key, channel in (("inbox-a", "in_app"), ("inbox-b", "in_app"), ("mail-a", "email")):
        body = {"key": key, "channel": channel, "subject": "Hi", "body": "Order {{ payload.id }}"}
        assert acme_api.post("/api/v1/templates", body).status_code == 201


def _body(*templates: str, critical: bool = False) -> dict:
    channels = {"inbox-a": "in_app", "inbox-b": "in_app", "mail-a": "email"}
    return {
        "name": "Shipping",
        "critical": critical,
        "steps": [{"type": "send", "channel": channels[t], "template": t} for t in templates],
    }


@pytest.fixture
def workflow(acme_api, templates):
    response = acme_api.post("/api/v1/workflows", {"key": "ship", **_body("inbox-a")})
    assert response.status_code == 201, response.content
    return response.json()


def test_a_new_workflow_is_version_1_live_with_no_rollout(acme_api, workflow):
    assert workflow["version"] == 1
    assert workflow["rollout"] is None

    versions = acme_api.get("/api/v1/workflows/ship/versions").json()["results"]

    assert [(v["version"], v["live"]) for v in versions] == [(1, True)]
    assert versions[0]["steps"] == [{"type": "send", "channel": "in_app", "template": "inbox-a"}]


def test_put_makes_a_new_live_version_and_keeps_the_old_one_as_it_was(acme_api, workflow):
    # when
    response = acme_api.put("/api/v1/workflows/ship", _body("inbox-b", "mail-a", critical=True))

    # then
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    old = acme_api.get("/api/v1/workflows/ship/versions/1").json()
    new = acme_api.get("/api/v1/workflows/ship/versions/2").json()
    assert (old["live"], old["critical"], [s["template"] for s in old["steps"]]) == (
        False,
        False,
        ["inbox-a"],
    )
    assert (new["live"], new["critical"], [s["template"] for s in new["steps"]]) == (
        True,
        True,
        ["inbox-b", "mail-a"],
    )


def test_put_of_the_same_steps_and_flags_makes_no_version(acme_api, workflow):
    response = acme_api.put("/api/v1/workflows/ship", {**_body("inbox-a"), "name": "Renamed"})

    assert response.json()["version"] == 1
    assert response.json()["name"] == "Renamed"
    assert len(acme_api.get("/api/v1/workflows/ship/versions").json()["results"]) == 1


def test_a_posted_version_is_stored_but_not_live(acme_api, workflow):
    # when
    response = acme_api.post("/api/v1/workflows/ship/versions", _body("inbox-b"))

    # then
    assert response.status_code == 201, response.content
    assert (response.json()["version"], response.json()["live"]) == (2, False)
    shown = acme_api.get("/api/v1/workflows/ship").json()
    assert shown["version"] == 1
    assert [s["template"] for s in shown["steps"]] == ["inbox-a"]


def test_a_posted_version_is_validated_like_a_put(acme_api, workflow):
    body = _body("inbox-a")
    body["steps"][0]["template"] = "missing"

    response = acme_api.post("/api/v1/workflows/ship/versions", body)

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"steps.0.template": ["No template 'missing'."]}
    assert len(acme_api.get("/api/v1/workflows/ship/versions").json()["results"]) == 1


def test_rollout_promote_and_rollback(acme_api, workflow):
    acme_api.post("/api/v1/workflows/ship/versions", _body("inbox-b"))

    # rollout: the live version stays, the rollout is shown
    response = acme_api.post("/api/v1/workflows/ship/rollout", {"version": 2, "percent": 12.5})
    assert response.status_code == 200, response.content
    assert (response.json()["version"], response.json()["rollout"]) == (
        1,
        {"version": 2, "percent": 12.5},
    )
    listed = acme_api.get("/api/v1/workflows/ship/versions/2").json()
    assert listed["rollout_percent"] == 12.5

    # promote: version 2 for everyone, its steps are the workflow's
    response = acme_api.post("/api/v1/workflows/ship/promote")
    assert response.status_code == 200, response.content
    assert (response.json()["version"], response.json()["rollout"]) == (2, None)
    assert [s["template"] for s in response.json()["steps"]] == ["inbox-b"]

    # rollback: version 1 again
    response = acme_api.post("/api/v1/workflows/ship/rollback", {"version": 1})
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 1
    assert [s["template"] for s in response.json()["steps"]] == ["inbox-a"]
    assert len(acme_api.get("/api/v1/workflows/ship/versions").json()["results"]) == 2


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("rollout", {"version": 9, "percent": 10}, 404, "version_not_found"),
        ("rollback", {"version": 9}, 404, "version_not_found"),
        ("rollout", {"version": 1, "percent": 10}, 400, "version_is_live"),
        ("promote", None, 409, "no_rollout"),
    ],
)
def test_version_errors(acme_api, workflow, path, body, status, code):
    response = acme_api.post(f"/api/v1/workflows/ship/{path}", body)

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert acme_api.get("/api/v1/workflows/ship").json()["rollout"] is None


@pytest.mark.parametrize("percent", [150, -1, "lots", 10.005, None, True])
def test_a_bad_percent_is_refused_naming_the_field(acme_api, workflow, percent):
    acme_api.post("/api/v1/workflows/ship/versions", _body("inbox-b"))

    response = acme_api.post("/api/v1/workflows/ship/rollout", {"version": 2, "percent": percent})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert "percent" in response.json()["error"]["fields"]
    assert acme_api.get("/api/v1/workflows/ship").json()["rollout"] is None


def test_unknown_version_and_workflow_are_404(acme_api, workflow):
    assert acme_api.get("/api/v1/workflows/ship/versions/7").json()["error"]["code"] == (
        "version_not_found"
    )
    assert acme_api.get("/api/v1/workflows/nope/versions").status_code == 404


def test_another_tenant_sees_no_versions(acme_api, globex_api, workflow):
    assert globex_api.get("/api/v1/workflows/ship/versions").status_code == 404


# --- the pipeline (real workers) ------------------------------------------------------------

pipeline = pytest.mark.worker


def _topic_of(unique: str, count: int, prefix: str) -> tuple[str, list[str]]:
    topic = Topic.objects.create(key=f"t-{unique}-{prefix}", name="Rollout")
    subscribers = Subscriber.objects.bulk_create(
        [Subscriber(subscriber_id=f"{prefix}{unique}-{n}") for n in range(count)],
        batch_size=5000,
    )
    TopicSubscription.objects.bulk_create(
        [TopicSubscription(topic=topic, subscriber=s) for s in subscribers], batch_size=5000
    )
    return topic.key, [s.subscriber_id for s in subscribers]


def _versions_of(live_api, event: str, topic: str) -> dict[str, int]:
    response = live_api.post("/api/v1/events/trigger", {"event": event, "to": [{"topic": topic}]})
    assert response.status_code == 202, response.content
    notification_id = response.json()["notification_id"]
    wait_until(lambda: notification_done(notification_id), timeout=120, what="fan-out")
    return dict(
        Delivery.objects.filter(notification_id=notification_id).values_list(
            "subscriber_ref", "workflow_version"
        )
    )


@pipeline
def test_a_rollout_reaches_its_share_the_same_subscribers_each_time(
    celery_worker, live, live_api, unique
):
    # given: v1 and v2 wait an hour before their in-app message, so nothing is sent here
    event = make_workflow(unique, [{"delay": 3600}, {"channel": "in_app"}])
    key = f"wf-{unique}"
    Template.objects.create(key=f"v2-{unique}", channel="in_app", subject="v2", body="v2")
    v2 = {
        "name": "v2",
        "steps": [
            {"type": "delay", "seconds": 3600},
            {"type": "send", "channel": "in_app", "template": f"v2-{unique}"},
        ],
    }
    assert live_api.post(f"/api/v1/workflows/{key}/versions", v2).json()["version"] == 2
    topic, ids = _topic_of(unique, 10_000, "r")
    response = live_api.post(f"/api/v1/workflows/{key}/rollout", {"version": 2, "percent": 10})
    assert response.status_code == 200, response.content

    # when
    first = _versions_of(live_api, event, topic)
    second = _versions_of(live_api, event, topic)

    # then: 9-11 % run v2, the same ones twice, exactly those the hash puts in the share
    counts = Counter(first.values())
    assert set(counts) == {1, 2} and sum(counts.values()) == 10_000
    assert 900 <= counts[2] <= 1100, counts
    assert first == second
    expected = {sid for sid in ids if rollout_bucket(workflow_key=key, subscriber_id=sid) < 1000}
    assert {sid for sid, version in first.items() if version == 2} == expected
    assert set(
        Delivery.objects.filter(workflow_version=2, notification__event=event).values_list(
            "template_key", flat=True
        )
    ) == {f"v2-{unique}"}

    # promote → everyone runs v2; rollback → everyone runs v1
    small, _ = _topic_of(unique, 300, "p")
    assert live_api.post(f"/api/v1/workflows/{key}/promote").status_code == 200
    assert set(_versions_of(live_api, event, small).values()) == {2}
    assert live_api.post(f"/api/v1/workflows/{key}/rollback", {"version": 1}).status_code == 200
    assert set(_versions_of(live_api, event, small).values()) == {1}

    # the API shows the version of each delivery
    one = Delivery.objects.filter(notification__event=event, workflow_version=2).first()
    assert live_api.get(f"/api/v1/deliveries/{one.pk}").json()["workflow_version"] == 2


@pipeline
def test_a_notification_keeps_the_version_it_started_with(celery_worker, live, live_api, unique):
    # given: v1 sends an in-app message, waits 2 s, sends a second one
    event = make_workflow(
        unique,
        [
            {"channel": "in_app", "subject": "first", "body": "v1 first"},
            {"delay": 2},
            {"channel": "in_app", "subject": "second", "body": "v1 second"},
        ],
    )
    key = f"wf-{unique}"
    Subscriber.objects.create(subscriber_id=f"u-{unique}")
    started = live_api.post(
        "/api/v1/events/trigger", {"event": event, "to": [f"u-{unique}"]}
    ).json()["notification_id"]
    wait_until(lambda: notification_done(started), what="fan-out")

    # when: v2 goes live during the delay, with other content and one step only
    Template.objects.create(key=f"v2-{unique}", channel="in_app", subject="v2", body="v2 only")
    v2 = {
        "name": "v2",
        "steps": [{"type": "send", "channel": "in_app", "template": f"v2-{unique}"}],
    }
    assert live_api.put(f"/api/v1/workflows/{key}", v2).json()["version"] == 2
    later = live_api.post("/api/v1/events/trigger", {"event": event, "to": [f"u-{unique}"]}).json()[
        "notification_id"
    ]
    wait_until(lambda: notification_done(later), what="fan-out")

    # then: the first notification finishes on v1, the second runs v2
    sweeping_until(
        lambda: InboxMessage.objects.filter(notification_id=started).count() == 2,
        timeout=30,
        what="the delayed v1 message",
    )
    assert sorted(
        InboxMessage.objects.filter(notification_id=started).values_list("body", flat=True)
    ) == ["v1 first", "v1 second"]
    assert set(
        Delivery.objects.filter(notification_id=started).values_list("workflow_version", flat=True)
    ) == {1}
    wait_until(lambda: InboxMessage.objects.filter(notification_id=later).exists())
    assert list(
        InboxMessage.objects.filter(notification_id=later).values_list("body", flat=True)
    ) == ["v2 only"]
    assert list(
        Delivery.objects.filter(notification_id=later).values_list("workflow_version", flat=True)
    ) == [2]
    assert Workflow.objects.get(key=key).version == 2


def test_a_template_a_rollout_needs_cannot_be_deleted(acme_api, workflow):
    acme_api.post("/api/v1/workflows/ship/versions", _body("inbox-b"))
    acme_api.post("/api/v1/workflows/ship/rollout", {"version": 2, "percent": 50})

    refused = acme_api.delete("/api/v1/templates/inbox-b")
    acme_api.post("/api/v1/workflows/ship/rollback", {"version": 1})
    allowed = acme_api.delete("/api/v1/templates/inbox-b")

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "template_in_use"
    assert allowed.status_code == 204


def test_a_delivery_is_held_by_the_send_window_of_its_own_version(acme_api, in_acme):
    # given: v1 (no send window) fanned out, then v2 live with a window closed at noon UTC
    from datetime import UTC, datetime

    from notifications.pipeline.fanout import notification_process
    from notifications.pipeline.sending.windows import deliveries_hold_outside_windows

    event = make_workflow("window", [{"channel": "email"}])
    Subscriber.objects.create(subscriber_id="w-1", email="w-1@example.com")

    def fanned_out() -> Delivery:
        response = acme_api.post("/api/v1/events/trigger", {"event": event, "to": ["w-1"]})
        notification_process(notification_id=response.json()["notification_id"])
        return Delivery.objects.get(notification_id=response.json()["notification_id"])

    started = fanned_out()
    v2 = {
        "name": "v2",
        "send_window": {"start": "08:00", "end": "09:00"},
        "steps": [{"type": "send", "channel": "email", "template": "tpl-window-0"}],
    }
    assert acme_api.put("/api/v1/workflows/wf-window", v2).json()["version"] == 2
    later = fanned_out()
    noon = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    # when
    sendable = deliveries_hold_outside_windows([started.pk, later.pk], "email", now=noon)

    # then: v1's delivery goes, v2's waits for 08:00
    assert (started.workflow_version, later.workflow_version) == (1, 2)
    assert sendable == [started.pk]
    later.refresh_from_db()
    assert later.status == "pending"
    assert later.next_attempt_at == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
