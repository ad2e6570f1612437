"""Requests a client may send that the API does not document still get a 2xx/4xx, never a 500."""

import pytest


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/integrations",
        "/api/v1/integrations/3",
        "/api/v1/routes",
        "/api/v1/routes/order.shipped",
        "/api/v1/templates",
        "/api/v1/templates/order-shipped",
        "/api/v1/workflows",
        "/api/v1/workflows/order-shipped",
        "/api/v1/subscribers/user-1",
        "/api/v1/events/trigger",
    ],
)
def test_options_describes_the_view_without_building_its_serializer(acme_api, path):
    response = acme_api.options(path)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"]
    assert body["parses"] == ["application/json"]
    assert body["schema"] == "/api/schema/"


@pytest.mark.parametrize("step_type", [{}, [], 3, None, True])
def test_a_workflow_step_type_that_is_not_a_string_is_a_400(acme_api, step_type):
    body = {"key": "w-1", "name": "W", "steps": [{"type": step_type, "window_seconds": 0}]}

    response = acme_api.post("/api/v1/workflows", body)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(field.startswith("steps.0") for field in error["fields"]), error
