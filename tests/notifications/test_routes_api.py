"""Routes API: event name → workflow, with priority, active flag and attempt budget."""

import pytest
from django_tenants.utils import schema_context

from notifications.models import Route
from notifications.selectors.config import route_get_active
from tests.conftest import ApiClient
from tests.factories import WorkflowFactory, WorkflowStepFactory


@pytest.fixture
def workflows(acme):
    with schema_context(acme.schema):
        for key in ("shipping", "billing"):
            WorkflowStepFactory(workflow=WorkflowFactory(key=key), position=0)


def route(**overrides):
    return {"event": "order.shipped", "workflow": "shipping", **overrides}


def error_of(response, status, code="validation_error"):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    return error


def fields_of(response):
    return {k: v for k, v in response.json().items() if k not in ("created_at", "updated_at")}


def test_create_with_defaults(acme_api, workflows):
    # when
    response = acme_api.post("/api/v1/routes", route())
    # then
    assert response.status_code == 201
    assert fields_of(response) == {
        "event": "order.shipped",
        "workflow": "shipping",
        "priority": "normal",
        "active": True,
        "max_attempts": 5,
        "event_version": None,
    }
    assert response.json()["created_at"]


@pytest.mark.parametrize("priority", ["critical", "high", "normal", "low"])
def test_priorities(acme_api, workflows, priority):
    response = acme_api.post("/api/v1/routes", route(priority=priority))

    assert response.status_code == 201
    assert acme_api.get("/api/v1/routes/order.shipped").json()["priority"] == priority


@pytest.mark.parametrize("max_attempts", [1, 20])
def test_max_attempts_bounds(acme_api, workflows, max_attempts):
    response = acme_api.post("/api/v1/routes", route(max_attempts=max_attempts))

    assert response.status_code == 201
    assert response.json()["max_attempts"] == max_attempts


@pytest.mark.parametrize(
    "event", ["order.shipped", "a", "billing:invoice-paid_v2", "A.B-C_D:1", "x" * 200]
)
def test_valid_event_names(acme_api, workflows, event):
    response = acme_api.post("/api/v1/routes", route(event=event))

    assert response.status_code == 201
    assert acme_api.get(f"/api/v1/routes/{event}").json()["event"] == event


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"event": ""}, "event"),
        ({"event": "x" * 201}, "event"),
        ({"event": "order shipped"}, "event"),
        ({"event": "order/shipped"}, "event"),
        ({"event": "commande.expédiée"}, "event"),
        ({"event": "a?b"}, "event"),
        ({"priority": "urgent"}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 21}, "max_attempts"),
        ({"max_attempts": "many"}, "max_attempts"),
        ({"active": "sometimes"}, "active"),
        ({"workflow": "nothing"}, "workflow"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_are_400(acme_api, workflows, overrides, field):
    response = acme_api.post("/api/v1/routes", route(**overrides))

    error = error_of(response, 400)
    assert field in error["fields"]
    assert acme_api.get("/api/v1/routes").json()["results"] == []


def test_missing_fields(acme_api, workflows):
    error = error_of(acme_api.post("/api/v1/routes", {}), 400)

    assert set(error["fields"]) == {"event", "workflow"}


def test_duplicate_event_is_409(acme_api, workflows):
    acme_api.post("/api/v1/routes", route())

    response = acme_api.post("/api/v1/routes", route(workflow="billing"))

    error_of(response, 409, "route_exists")
    assert acme_api.get("/api/v1/routes/order.shipped").json()["workflow"] == "shipping"


def test_list_get_and_filters(acme_api, workflows):
    acme_api.post("/api/v1/routes", route(event="b.event"))
    acme_api.post("/api/v1/routes", route(event="a.event", workflow="billing", active=False))

    listed = acme_api.get("/api/v1/routes").json()
    inactive = acme_api.get("/api/v1/routes?active=false").json()["results"]
    billing = acme_api.get("/api/v1/routes?workflow=billing").json()["results"]

    assert [r["event"] for r in listed["results"]] == ["a.event", "b.event"]
    assert listed["next"] is None
    assert [r["event"] for r in inactive] == ["a.event"]
    assert [r["event"] for r in billing] == ["a.event"]
    error_of(acme_api.get("/api/v1/routes/nothing"), 404, "not_found")


def test_inactive_route_is_not_used_by_the_pipeline(acme, acme_api, workflows):
    acme_api.post("/api/v1/routes", route(active=False))

    with schema_context(acme.schema):
        assert route_get_active(event="order.shipped") is None
        assert route_get_active(event="unknown") is None

    acme_api.patch("/api/v1/routes/order.shipped", {"active": True})

    with schema_context(acme.schema):
        active = route_get_active(event="order.shipped")
        assert active.workflow.key == "shipping"
        assert [step.position for step in active.workflow.steps.all()] == [0]


def test_put_replaces_every_field(acme_api, workflows):
    acme_api.post("/api/v1/routes", route(priority="high", max_attempts=9, active=False))

    response = acme_api.put("/api/v1/routes/order.shipped", {"workflow": "billing"})

    assert response.status_code == 200
    assert fields_of(response) == {
        "event": "order.shipped",
        "workflow": "billing",
        "priority": "normal",
        "active": True,
        "max_attempts": 5,
        "event_version": None,
    }


def test_put_event_must_match_the_url(acme_api, workflows):
    acme_api.post("/api/v1/routes", route())

    error = error_of(acme_api.put("/api/v1/routes/order.shipped", route(event="other")), 400)

    assert list(error["fields"]) == ["event"]


def test_put_requires_the_workflow(acme_api, workflows):
    acme_api.post("/api/v1/routes", route())

    error = error_of(acme_api.put("/api/v1/routes/order.shipped", {"priority": "low"}), 400)

    assert list(error["fields"]) == ["workflow"]


def test_put_unknown_route_is_404(acme_api, workflows):
    error_of(acme_api.put("/api/v1/routes/nothing", route(event="nothing")), 404, "not_found")


def test_patch_changes_only_what_is_given(acme_api, workflows):
    acme_api.post("/api/v1/routes", route(priority="high", max_attempts=9))

    response = acme_api.patch("/api/v1/routes/order.shipped", {"active": False})

    assert fields_of(response) == {
        "event": "order.shipped",
        "workflow": "shipping",
        "priority": "high",
        "active": False,
        "max_attempts": 9,
        "event_version": None,
    }


@pytest.mark.parametrize(
    "body, field",
    [
        ({"workflow": "nothing"}, "workflow"),
        ({"priority": "urgent"}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"event": "renamed"}, "event"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_patch_changes_nothing(acme_api, workflows, body, field):
    acme_api.post("/api/v1/routes", route())
    before = acme_api.get("/api/v1/routes/order.shipped").json()

    error = error_of(acme_api.patch("/api/v1/routes/order.shipped", body), 400)

    assert field in error["fields"]
    assert acme_api.get("/api/v1/routes/order.shipped").json() == before


def test_patch_can_move_the_route_to_another_workflow(acme, acme_api, workflows):
    acme_api.post("/api/v1/routes", route())

    acme_api.patch("/api/v1/routes/order.shipped", {"workflow": "billing"})

    with schema_context(acme.schema):
        assert route_get_active(event="order.shipped").workflow.key == "billing"


def test_delete(acme, acme_api, workflows):
    acme_api.post("/api/v1/routes", route())

    response = acme_api.delete("/api/v1/routes/order.shipped")

    assert response.status_code == 204
    error_of(acme_api.get("/api/v1/routes/order.shipped"), 404, "not_found")
    error_of(acme_api.delete("/api/v1/routes/order.shipped"), 404, "not_found")
    # The workflow is free again.
    assert acme_api.delete("/api/v1/workflows/shipping").status_code == 204
    with schema_context(acme.schema):
        assert not Route.objects.exists()


def test_a_workflow_of_another_tenant_cannot_be_routed_to(globex_api, workflows):
    error = error_of(globex_api.post("/api/v1/routes", route()), 400)

    assert list(error["fields"]) == ["workflow"]


def test_routes_are_invisible_to_other_tenants(acme_api, globex, globex_api, workflows):
    acme_api.post("/api/v1/routes", route())
    by_key = ApiClient("localhost", globex.key)

    error_of(globex_api.get("/api/v1/routes/order.shipped"), 404, "not_found")
    error_of(by_key.get("/api/v1/routes/order.shipped"), 404, "not_found")
    error_of(globex_api.patch("/api/v1/routes/order.shipped", {"active": False}), 404, "not_found")
    error_of(globex_api.put("/api/v1/routes/order.shipped", route()), 404, "not_found")
    error_of(globex_api.delete("/api/v1/routes/order.shipped"), 404, "not_found")
    assert globex_api.get("/api/v1/routes").json()["results"] == []
    assert acme_api.get("/api/v1/routes/order.shipped").json()["active"] is True
