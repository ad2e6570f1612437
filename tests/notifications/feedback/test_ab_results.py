"""A/B results: a two-variant template sent through the real in-app path by a real worker,
opens and clicks recorded on one variant, and the results API (and admin) telling a winner
only past significance."""

from __future__ import annotations

import math

import pytest

from notifications.models import Delivery, Template, TemplateVariant
from notifications.pipeline.state import Event, deliveries_mark_opened, deliveries_move
from notifications.selectors.feedback import two_proportion_p_value, wilson_interval
from tests.notifications.pipeline_helpers import (
    make_topic,
    make_workflow,
    notification_done,
    statuses,
    wait_until,
)


def test_wilson_interval_and_z_test_match_published_values():
    # 50 of 1000: Wilson 95% [0.0381, 0.0653]; 90/1000 vs 50/1000: z = 3.51, p = 0.00046
    lo, hi = wilson_interval(50, 1000)
    assert (round(lo, 4), round(hi, 4)) == (0.0381, 0.0653)
    assert round(two_proportion_p_value(90, 1000, 50, 1000), 5) == 0.00046
    assert two_proportion_p_value(5, 100, 5, 100) == 1.0
    assert wilson_interval(0, 0) == (0.0, 0.0)
    assert two_proportion_p_value(1, 0, 1, 10) is None


def click(delivery_ids: list[int]) -> None:
    """Record clicks as the tracking redirect does: a move of the state module."""
    deliveries_move(
        delivery_ids,
        from_statuses=["sent", "delivered", "opened"],
        to_status="clicked",
        event=Event(detail="clicked (test)"),
    )


@pytest.mark.worker
def test_results_count_each_variant_and_name_a_winner_only_past_significance(
    celery_worker, live, live_api, unique
):
    # given: an in-app template split between `control` and `b`, sent to 240 subscribers
    event = make_workflow(unique, [{"channel": "in_app", "body": "Order shipped"}])
    template = Template.objects.get(key=f"tpl-{unique}-0")
    TemplateVariant.objects.create(template=template, name="control", weight=1, body="Shipped")
    TemplateVariant.objects.create(template=template, name="b", weight=1, body="On its way!")
    topic, _ = make_topic(unique, 240)
    response = live_api.post(
        "/api/v1/events/trigger", {"event": event, "to": [{"topic": topic}], "payload": {}}
    )
    assert response.status_code == 202, response.content
    notification_id = response.json()["notification_id"]
    wait_until(lambda: notification_done(notification_id), what="fan-out")
    wait_until(lambda: statuses(notification_id).get("sent") == 240, what="all sent")
    by_variant: dict[str, list[int]] = {"control": [], "b": []}
    for pk, variant in Delivery.objects.filter(notification_id=notification_id).values_list(
        "pk", "variant"
    ):
        by_variant[variant].append(pk)
    control, b = sorted(by_variant["control"]), sorted(by_variant["b"])
    assert len(control) > 80 and len(b) > 80

    # when: a few more clicks on b than on control (not significant)
    click(control[:8])
    click(b[:12])
    deliveries_mark_opened(delivery_ids=control[8:20] + b[12:40], detail="read (test)")
    body = live_api.get(f"/api/v1/templates/{template.key}/results").json()

    # then
    rows = {row["name"]: row for row in body["variants"]}
    assert list(rows) == ["control", "b"]
    assert rows["control"]["sent"] == len(control) and rows["b"]["sent"] == len(b)
    assert rows["control"]["clicked"] == 8 and rows["b"]["clicked"] == 12
    assert rows["control"]["opened"] == 20 and rows["b"]["opened"] == 40
    assert rows["b"]["open_rate"] == round(40 / len(b), 6)
    assert rows["b"]["click_rate"] == round(12 / len(b), 6)
    lo, hi = rows["b"]["click_rate_ci"]
    assert lo < rows["b"]["click_rate"] < hi
    assert rows["control"]["p_value_vs_control"] is None
    assert rows["b"]["p_value_vs_control"] > 0.05
    assert body["winner"] is None

    # when: b is clicked far more (significant)
    click(b[12:45])
    body = live_api.get(f"/api/v1/templates/{template.key}/results").json()

    # then
    rows = {row["name"]: row for row in body["variants"]}
    assert rows["b"]["clicked"] == 45
    assert rows["b"]["p_value_vs_control"] < 0.05
    assert body["winner"] == "b"
    n1, n2 = len(b), len(control)
    pooled = (45 + 8) / (n1 + n2)
    z = (45 / n1 - 8 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert rows["b"]["p_value_vs_control"] == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-6)


def test_results_of_an_unknown_template_or_locale_are_404(acme_api, in_acme):
    Template.objects.create(key="welcome", channel="in_app", body="Hi")
    assert acme_api.get("/api/v1/templates/nope/results").status_code == 404
    response = acme_api.get("/api/v1/templates/welcome/results?locale=fr")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    empty = acme_api.get("/api/v1/templates/welcome/results").json()
    assert empty == {
        "variants": [
            {
                "name": "control",
                "sent": 0,
                "delivered": 0,
                "opened": 0,
                "clicked": 0,
                "click_rate": None,
                "click_rate_ci": [0.0, 0.0],
                "open_rate": None,
                "p_value_vs_control": None,
            }
        ],
        "winner": None,
    }
