"""Workflows API: ordered send / delay / digest steps, validated against templates."""

import pytest
from django_tenants.utils import schema_context

from notifications.models import WorkflowStep
from notifications.selectors.config import route_get_active, workflow_get
from tests.conftest import ApiClient
from tests.factories import RouteFactory, TemplateFactory, WorkflowFactory

SEND_INBOX = {"type": "send", "channel": "in_app", "template": "inbox"}
SEND_EMAIL = {"type": "send", "channel": "email", "template": "mail"}
SEND_SMS = {"type": "send", "channel": "sms", "template": "text"}


@pytest.fixture
def templates(acme):
    with schema_context(acme.schema):
        TemplateFactory(key="inbox", channel="in_app", subject="", body="{{ payload.x }}")
        TemplateFactory(key="mail", channel="email")
        TemplateFactory(key="text", channel="sms", subject="", body="{{ payload.x }}")


def workflow(**overrides):
    body = {
        "key": "order-shipped",
        "name": "Order shipped",
        "steps": [
            SEND_INBOX,
            {"type": "delay", "seconds": 3600},
            {**SEND_EMAIL, "condition": {"unread": 0}},
            {"type": "digest", "window_seconds": 600},
            SEND_SMS,
        ],
    }
    body.update(overrides)
    return body


def error_of(response, status, code="validation_error"):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    return error


def test_create_round_trips_every_step_type(acme, acme_api, templates):
    # when
    response = acme_api.post("/api/v1/workflows", workflow())
    # then
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("key", "name", "critical", "steps")} == {
        "key": "order-shipped",
        "name": "Order shipped",
        "critical": False,
        "steps": workflow()["steps"],
    }
    assert acme_api.get("/api/v1/workflows/order-shipped").json()["steps"] == workflow()["steps"]


def test_steps_are_stored_as_rows(acme, acme_api, templates):
    acme_api.post("/api/v1/workflows", workflow(critical=True))

    with schema_context(acme.schema):
        rows = list(
            WorkflowStep.objects.filter(workflow__key="order-shipped")
            .order_by("position")
            .values_list("position", "type", "channel", "template_key", "seconds", "unread_step")
        )
        assert workflow_get(key="order-shipped").critical is True
    assert rows == [
        (0, "send", "in_app", "inbox", None, None),
        (1, "delay", "", "", 3600, None),
        (2, "send", "email", "mail", None, 0),
        (3, "digest", "", "", 600, None),
        (4, "send", "sms", "text", None, None),
    ]


def test_unread_index_given_as_a_string_is_accepted(acme_api, templates):
    steps = [SEND_INBOX, {**SEND_EMAIL, "condition": {"unread": "0"}}]

    response = acme_api.post("/api/v1/workflows", workflow(steps=steps))

    assert response.status_code == 201
    assert response.json()["steps"][1]["condition"] == {"unread": 0}


def test_list_and_get(acme_api, templates):
    acme_api.post("/api/v1/workflows", workflow(key="b-flow", steps=[SEND_SMS]))
    acme_api.post("/api/v1/workflows", workflow(key="a-flow", steps=[SEND_EMAIL]))

    listed = acme_api.get("/api/v1/workflows").json()

    assert [w["key"] for w in listed["results"]] == ["a-flow", "b-flow"]
    assert listed["results"][0]["steps"] == [SEND_EMAIL]
    assert listed["next"] is None
    error_of(acme_api.get("/api/v1/workflows/nothing"), 404, "not_found")


def test_duplicate_key_is_409(acme_api, templates):
    acme_api.post("/api/v1/workflows", workflow())

    response = acme_api.post("/api/v1/workflows", workflow(name="Again"))

    error_of(response, 409, "workflow_exists")
    assert acme_api.get("/api/v1/workflows/order-shipped").json()["name"] == "Order shipped"


DAY = 24 * 3600


@pytest.mark.parametrize(
    "steps, field",
    [
        ([], "steps"),
        ([{"type": "delay", "seconds": 60}], "steps"),
        ([{"type": "send", "channel": "email", "template": "nothing"}], "steps.0.template"),
        ([{"type": "send", "channel": "sms", "template": "mail"}], "steps.0.template"),
        ([{"type": "send", "channel": "email"}], "steps.0.template"),
        ([{"type": "send", "template": "mail"}], "steps.0.channel"),
        ([{"type": "send", "channel": "fax", "template": "mail"}], "steps.0.channel"),
        ([SEND_EMAIL, {"type": "delay", "seconds": 0}], "steps.1.seconds"),
        ([SEND_EMAIL, {"type": "delay", "seconds": 30 * DAY + 1}], "steps.1.seconds"),
        ([SEND_EMAIL, {"type": "delay", "seconds": "soon"}], "steps.1.seconds"),
        ([SEND_EMAIL, {"type": "delay"}], "steps.1.seconds"),
        ([SEND_EMAIL, {"type": "digest", "window_seconds": 0}], "steps.1.window_seconds"),
        ([SEND_EMAIL, {"type": "digest", "window_seconds": DAY + 1}], "steps.1.window_seconds"),
        ([SEND_EMAIL, {"type": "digest", "seconds": 60}], "steps.1.seconds"),
        ([SEND_EMAIL, {"type": "wait", "seconds": 60}], "steps.1.type"),
        ([SEND_EMAIL, {"seconds": 60}], "steps.1.type"),
        ([SEND_EMAIL, "delay"], "steps.1"),
        ([SEND_INBOX, SEND_SMS, {**SEND_EMAIL, "colour": "red"}], "steps.2.colour"),
        ([{**SEND_EMAIL, "seconds": 5}], "steps.0.seconds"),
        ([{**SEND_EMAIL, "condition": {"unread": 0}}], "steps.0.condition.unread"),
        ([{**SEND_EMAIL, "condition": {"unread": 1}}, SEND_INBOX], "steps.0.condition.unread"),
        ([SEND_SMS, {**SEND_EMAIL, "condition": {"unread": 0}}], "steps.1.condition.unread"),
        ([SEND_INBOX, {**SEND_EMAIL, "condition": {"unread": -1}}], "steps.1.condition.unread"),
        ([SEND_INBOX, {**SEND_EMAIL, "condition": {"unread": 7}}], "steps.1.condition.unread"),
        (
            [SEND_INBOX, {"type": "delay", "seconds": 5}, {**SEND_SMS, "condition": {"unread": 1}}],
            "steps.2.condition.unread",
        ),
        ([SEND_INBOX, {**SEND_EMAIL, "condition": {}}], "steps.1.condition.unread"),
        ([SEND_INBOX, {**SEND_EMAIL, "condition": {"read": 0}}], "steps.1.condition.read"),
        ([SEND_INBOX, {**SEND_EMAIL, "condition": 0}], "steps.1.condition"),
        ([SEND_EMAIL] * 51, "steps"),
        ("send", "steps"),
    ],
)
def test_invalid_steps_are_400_naming_the_field(acme_api, templates, steps, field):
    response = acme_api.post("/api/v1/workflows", workflow(steps=steps))

    error = error_of(response, 400)
    assert field in error["fields"], error["fields"]
    error_of(acme_api.get("/api/v1/workflows/order-shipped"), 404, "not_found")


@pytest.mark.parametrize(
    "step",
    [
        {"type": "delay", "seconds": 1},
        {"type": "delay", "seconds": 30 * DAY},
        {"type": "digest", "window_seconds": 1},
        {"type": "digest", "window_seconds": DAY},
    ],
)
def test_bounds_are_inclusive(acme_api, templates, step):
    response = acme_api.post("/api/v1/workflows", workflow(steps=[SEND_EMAIL, step]))

    assert response.status_code == 201
    assert response.json()["steps"][1] == step


def test_every_error_is_reported_at_once(acme_api, templates):
    steps = [{"type": "delay", "seconds": 0}, {**SEND_EMAIL, "template": "nothing"}]

    error = error_of(acme_api.post("/api/v1/workflows", workflow(steps=steps)), 400)

    assert set(error["fields"]) == {"steps.0.seconds", "steps.1.template"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"colour": "red"}, "colour"),
        ({"key": "bad key"}, "key"),
        ({"name": ""}, "name"),
        ({"critical": "maybe"}, "critical"),
    ],
)
def test_invalid_workflow_fields(acme_api, templates, body, field):
    error = error_of(acme_api.post("/api/v1/workflows", workflow(**body)), 400)

    assert field in error["fields"]


def test_put_replaces_the_steps_as_a_whole(acme, acme_api, templates):
    acme_api.post("/api/v1/workflows", workflow())

    response = acme_api.put(
        "/api/v1/workflows/order-shipped",
        {"name": "Renamed", "critical": True, "steps": [SEND_SMS]},
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["critical"] is True
    assert response.json()["steps"] == [SEND_SMS]
    with schema_context(acme.schema):
        assert WorkflowStep.objects.filter(workflow__key="order-shipped").count() == 1


def test_invalid_put_changes_nothing(acme_api, templates):
    acme_api.post("/api/v1/workflows", workflow())

    response = acme_api.put(
        "/api/v1/workflows/order-shipped",
        workflow(name="Renamed", steps=[SEND_SMS, {"type": "delay", "seconds": 0}]),
    )

    error_of(response, 400)
    got = acme_api.get("/api/v1/workflows/order-shipped").json()
    assert (got["name"], got["steps"]) == ("Order shipped", workflow()["steps"])


def test_put_key_must_match_the_url(acme_api, templates):
    acme_api.post("/api/v1/workflows", workflow())

    error = error_of(acme_api.put("/api/v1/workflows/order-shipped", workflow(key="x")), 400)

    assert list(error["fields"]) == ["key"]


def test_put_unknown_workflow_is_404(acme_api, templates):
    error_of(acme_api.put("/api/v1/workflows/nothing", workflow(key="nothing")), 404, "not_found")


def test_a_change_is_effective_on_the_next_event(acme, acme_api, templates):
    acme_api.post("/api/v1/workflows", workflow())
    acme_api.post("/api/v1/routes", {"event": "order.shipped", "workflow": "order-shipped"})
    with schema_context(acme.schema):
        before = [s.type for s in route_get_active(event="order.shipped").workflow.steps.all()]

    acme_api.put("/api/v1/workflows/order-shipped", workflow(steps=[SEND_SMS]))

    with schema_context(acme.schema):
        after = route_get_active(event="order.shipped").workflow.steps.all()
        assert before == ["send", "delay", "send", "digest", "send"]
        assert [(s.type, s.channel) for s in after] == [("send", "sms")]


def test_delete(acme_api, templates):
    acme_api.post("/api/v1/workflows", workflow())

    response = acme_api.delete("/api/v1/workflows/order-shipped")

    assert response.status_code == 204
    error_of(acme_api.get("/api/v1/workflows/order-shipped"), 404, "not_found")
    error_of(acme_api.delete("/api/v1/workflows/order-shipped"), 404, "not_found")


def test_delete_a_workflow_used_by_a_route_is_409(acme, acme_api):
    with schema_context(acme.schema):
        RouteFactory(event="order.shipped", workflow=WorkflowFactory(key="shipping"))

    error = error_of(acme_api.delete("/api/v1/workflows/shipping"), 409, "workflow_in_use")

    assert "order.shipped" in error["message"]
    assert acme_api.get("/api/v1/workflows/shipping").status_code == 200


def test_templates_of_another_tenant_cannot_be_used(acme_api, globex_api, templates):
    response = globex_api.post("/api/v1/workflows", workflow(steps=[SEND_EMAIL]))

    error = error_of(response, 400)
    assert "steps.0.template" in error["fields"]


def test_workflows_are_invisible_to_other_tenants(acme_api, globex, globex_api, templates):
    acme_api.post("/api/v1/workflows", workflow())
    by_key = ApiClient("localhost", globex.key)

    error_of(globex_api.get("/api/v1/workflows/order-shipped"), 404, "not_found")
    error_of(by_key.get("/api/v1/workflows/order-shipped"), 404, "not_found")
    error_of(globex_api.put("/api/v1/workflows/order-shipped", workflow()), 404, "not_found")
    error_of(globex_api.delete("/api/v1/workflows/order-shipped"), 404, "not_found")
    assert globex_api.get("/api/v1/workflows").json()["results"] == []
    assert acme_api.get("/api/v1/workflows/order-shipped").status_code == 200
