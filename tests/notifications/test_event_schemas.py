"""Event schemas: JSON Schema 2020-12 per event version, payloads validated on trigger, routes
bound to a version so v1 and v2 producers run side by side."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from notifications.models import Delivery, EventSchema, Notification
from notifications.selectors.event_schemas import event_schemas_forget
from tests.notifications.pipeline_helpers import make_workflow, notification_done, wait_until

V1 = {
    "type": "object",
    "required": ["order_id"],
    "properties": {"order_id": {"type": "string"}},
}
V2 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "carrier", "items"],
    "properties": {
        "order_id": {"type": "integer"},
        "carrier": {"type": "string", "enum": ["ups", "dhl"]},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
    },
    "$defs": {
        "item": {
            "type": "object",
            "required": ["sku"],
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
        }
    },
}
GOOD_V1 = {"order_id": "A-1"}
GOOD_V2 = {"order_id": 7, "carrier": "ups", "items": [{"sku": "x", "qty": 2}]}


@pytest.fixture(autouse=True)
def _forget_cached_schemas(test_tenants):
    """Schemas written in a rolled-back test must not outlive it in the cache."""
    yield
    for tenant in test_tenants.values():
        with schema_context(tenant.schema):
            event_schemas_forget()
    connection.set_schema_to_public()


def _put(api, version: int, schema: dict, event: str = "order.shipped"):
    return api.put(f"/api/v1/events/{event}/schemas/{version}", {"schema": schema})


@pytest.fixture
def routed(acme_api, in_acme):
    """order.shipped v1 → one workflow, v2 → another; both schemas registered."""
    make_workflow("v1", [{"channel": "in_app", "body": "v1 {{ payload.order_id }}"}])
    make_workflow("v2", [{"channel": "in_app", "body": "v2 {{ payload.carrier }}"}])
    assert _put(acme_api, 1, V1).status_code == 201
    assert _put(acme_api, 2, V2).status_code == 201
    for version in (1, 2):
        response = acme_api.post(
            "/api/v1/routes",
            {"event": "order.shipped", "workflow": f"wf-v{version}", "event_version": version},
        )
        assert response.status_code == 201, response.content


def _trigger(api, payload, **extra):
    return api.post(
        "/api/v1/events/trigger",
        {"event": "order.shipped", "to": ["u-1"], "payload": payload, **extra},
    )


def test_put_creates_then_replaces_and_get_lists_in_version_order(acme_api):
    assert _put(acme_api, 2, V2).status_code == 201
    assert _put(acme_api, 1, {"type": "object"}).status_code == 201

    replaced = _put(acme_api, 1, V1)

    assert replaced.status_code == 200
    assert replaced.json()["schema"] == V1
    listed = acme_api.get("/api/v1/events/order.shipped/schemas").json()["results"]
    assert [(s["version"], s["schema"]) for s in listed] == [(1, V1), (2, V2)]
    assert acme_api.get("/api/v1/events/other/schemas").json()["results"] == []


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "nonsense"}, "Not a valid JSON Schema 2020-12"),
        ({"properties": {"a": {"minimum": "low"}}}, "Not a valid JSON Schema 2020-12"),
        ({"$ref": "https://example.com/schema.json"}, "Only references inside the schema"),
        ({"enum": ["x" * 1000] * 100}, "At most 64 KB"),
        ([], "Expected a JSON Schema object"),
    ],
)
def test_an_invalid_schema_is_refused_with_its_error(acme_api, in_acme, schema, message):
    response = _put(acme_api, 1, schema)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(message in text for texts in error["fields"].values() for text in texts), error
    assert not EventSchema.objects.exists()


def test_version_zero_is_refused(acme_api):
    response = _put(acme_api, 0, V1)

    assert response.status_code == 400
    assert "version" in response.json()["error"]["fields"]


def test_each_version_is_validated_and_routed_by_its_own_routes(acme_api, routed):
    # when
    v1 = _trigger(acme_api, GOOD_V1, event_version=1)
    v2 = _trigger(acme_api, GOOD_V2, event_version=2)
    default = _trigger(acme_api, GOOD_V2)

    # then
    assert (v1.status_code, v2.status_code, default.status_code) == (202, 202, 202)
    ran = {
        name: Notification.objects.select_related("workflow").get(
            pk=response.json()["notification_id"]
        )
        for name, response in (("v1", v1), ("v2", v2), ("default", default))
    }
    assert {name: n.workflow.key for name, n in ran.items()} == {
        "v1": "wf-v1",
        "v2": "wf-v2",
        "default": "wf-v2",
    }
    assert {name: n.event_version for name, n in ran.items()} == {"v1": 1, "v2": 2, "default": 2}


def test_a_bad_payload_lists_every_failing_pointer(acme_api, routed):
    # when
    response = _trigger(
        acme_api,
        {"order_id": "not-a-number", "items": [{"sku": "a"}, {"qty": 0}], "carrier": "fedex"},
        event_version=2,
    )

    # then
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "payload_invalid"
    assert set(error["fields"]) == {
        "payload/order_id",
        "payload/carrier",
        "payload/items/1/sku",
        "payload/items/1/qty",
    }
    assert error["fields"]["payload/items/1/sku"] == ["This field is required."]
    assert not Notification.objects.exists()


def test_a_payload_missing_required_fields_names_each(acme_api, routed):
    response = _trigger(acme_api, {}, event_version=2)

    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {
        "payload/order_id",
        "payload/carrier",
        "payload/items",
    }


def test_the_v1_schema_holds_v1_triggers(acme_api, routed):
    # a valid v2 payload is not a valid v1 payload
    response = _trigger(acme_api, GOOD_V2, event_version=1)

    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"payload/order_id"}


def test_an_unknown_event_version_is_refused(acme_api, routed):
    response = _trigger(acme_api, GOOD_V2, event_version=3)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_event_version"
    assert error["fields"] == {"event_version": ["Use one of: 1, 2."]}


def test_a_replaced_schema_is_used_by_the_next_trigger(acme_api, routed):
    assert _trigger(acme_api, GOOD_V1, event_version=1).status_code == 202

    _put(acme_api, 1, {**V1, "required": ["order_id", "note"]})

    response = _trigger(acme_api, GOOD_V1, event_version=1)
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"payload/note"}


def test_an_event_without_a_schema_accepts_any_object_in_one_statement(acme_api, in_acme):
    event = make_workflow("free", [{"channel": "in_app"}])
    assert _trigger_event(acme_api, event, {"anything": [1, {"x": None}]}).status_code == 202

    # when: the tenant's (empty) schema index is known to this process
    with CaptureQueriesContext(connection) as queries:
        response = _trigger_event(acme_api, event, {"other": "shape"})

    # then: the one statement that checks the schemas, routes and stores the event
    assert response.status_code == 202
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]


def test_a_schema_written_by_another_process_holds_from_the_next_trigger(acme_api, in_acme):
    event = make_workflow("elsewhere", [{"channel": "in_app"}])
    assert _trigger_event(acme_api, event, {"order_id": 1}).status_code == 202

    # when: a schema appears that this process was never told of (no forget here)
    EventSchema.objects.create(event=event, version=1, schema=V1)
    refused = _trigger_event(acme_api, event, {"order_id": 1})
    accepted = _trigger_event(acme_api, event, {"order_id": "A-1"})

    # then
    assert refused.status_code == 422, refused.content
    assert refused.json()["error"]["code"] == "payload_invalid"
    assert accepted.status_code == 202
    assert Notification.objects.get(pk=accepted.json()["notification_id"]).event_version == 1


def test_a_schema_edited_or_deleted_by_another_process_is_seen_at_once(acme_api, in_acme):
    event = make_workflow("edited", [{"channel": "in_app"}])
    assert _put(acme_api, 1, V1, event=event).status_code == 201
    assert _trigger_event(acme_api, event, {"order_id": 7}).status_code == 422

    # when: the schema is loosened, then deleted, behind this process's back
    EventSchema.objects.filter(event=event).update(
        schema={"type": "object"}, updated_at=timezone.now()
    )
    loosened = _trigger_event(acme_api, event, {"order_id": 7})
    EventSchema.objects.filter(event=event).delete()
    deleted = _trigger_event(acme_api, event, {"order_id": 8})

    # then
    assert loosened.status_code == 202, loosened.content
    assert Notification.objects.get(pk=loosened.json()["notification_id"]).event_version == 1
    assert deleted.status_code == 202, deleted.content
    assert Notification.objects.get(pk=deleted.json()["notification_id"]).event_version is None


def _trigger_event(api, event, payload):
    return api.post("/api/v1/events/trigger", {"event": event, "to": ["u"], "payload": payload})


def test_the_bulk_trigger_validates_each_event(acme_api, routed):
    response = acme_api.post(
        "/api/v1/events/bulk",
        {
            "events": [
                {"event": "order.shipped", "to": ["a"], "payload": GOOD_V2},
                {"event": "order.shipped", "to": ["a"], "payload": {"order_id": 1}},
            ]
        },
    )

    assert response.status_code == 202
    first, second = response.json()["results"]
    assert first["status"] == "accepted"
    assert second["error"]["code"] == "payload_invalid"
    assert set(second["error"]["fields"]) == {"payload/carrier", "payload/items"}


def test_routes_bound_to_versions_are_addressed_by_event_version(acme_api, routed):
    shown = acme_api.get("/api/v1/routes/order.shipped?event_version=2")
    assert (shown.status_code, shown.json()["workflow"]) == (200, "wf-v2")
    assert acme_api.get("/api/v1/routes/order.shipped").status_code == 404

    again = acme_api.post(
        "/api/v1/routes", {"event": "order.shipped", "workflow": "wf-v1", "event_version": 1}
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "route_exists")

    paused = acme_api.patch("/api/v1/routes/order.shipped?event_version=1", {"active": False})
    assert (paused.status_code, paused.json()["event_version"]) == (200, 1)
    # v1 has no active route now: v1 triggers are unknown, v2 still runs
    assert _trigger(acme_api, GOOD_V1, event_version=1).json()["error"]["code"] == "unknown_event"
    assert _trigger(acme_api, GOOD_V2, event_version=2).status_code == 202


def test_an_unbound_route_takes_versions_without_a_route_of_their_own(acme_api, routed):
    make_workflow("any", [{"channel": "in_app"}])
    acme_api.delete("/api/v1/routes/order.shipped?event_version=1")
    acme_api.post("/api/v1/routes", {"event": "order.shipped", "workflow": "wf-any"})

    v1 = _trigger(acme_api, GOOD_V1, event_version=1)
    v2 = _trigger(acme_api, GOOD_V2, event_version=2)

    workflow_of = lambda r: Notification.objects.get(pk=r.json()["notification_id"]).workflow.key  # noqa: E731
    assert (workflow_of(v1), workflow_of(v2)) == ("wf-any", "wf-v2")


@pytest.mark.worker
def test_v1_and_v2_producers_run_side_by_side(celery_worker, live, live_api, unique):
    # given
    event = f"order.shipped.{unique}"
    for version, schema in ((1, V1), (2, V2)):
        make_workflow(f"{unique}v{version}", [{"channel": "in_app", "body": f"v{version}"}])
        assert _put(live_api, version, schema, event=event).status_code == 201
        live_api.post(
            "/api/v1/routes",
            {"event": event, "workflow": f"wf-{unique}v{version}", "event_version": version},
        )

    # when
    sent = {
        version: live_api.post(
            "/api/v1/events/trigger",
            {"event": event, "event_version": version, "to": [f"u-{unique}"], "payload": payload},
        ).json()["notification_id"]
        for version, payload in ((1, GOOD_V1), (2, GOOD_V2))
    }

    # then: each ran its own workflow's template
    for version, notification_id in sent.items():
        wait_until(lambda n=notification_id: notification_done(n), what="fan-out")
        assert list(
            Delivery.objects.filter(notification_id=notification_id).values_list(
                "template_key", flat=True
            )
        ) == [f"tpl-{unique}v{version}-0"]
    with schema_context(live.schema):
        event_schemas_forget()


def test_a_template_reading_an_undeclared_payload_key_is_saved_with_a_warning(acme_api, routed):
    # when: the v1 workflow's template reads `tracking`, which neither schema declares
    response = acme_api.put(
        "/api/v1/templates/tpl-v1-0",
        {
            "channel": "in_app",
            "subject": "Shipped",
            "body": "{{ payload.order_id }} {{ payload['tracking'] }} {{ payload.carrier }}",
        },
    )

    # then
    assert response.status_code == 200, response.content
    assert response.json()["warnings"] == [
        "payload.tracking is not in the schema of 'order.shipped' (version 1, 2)."
    ]
    assert "tracking" in acme_api.get("/api/v1/templates/tpl-v1-0").json()["body"]


@pytest.mark.parametrize("value", ["two", "-1", "0"])
def test_a_bad_event_version_in_a_route_url_is_a_400(acme_api, value):
    response = acme_api.get(f"/api/v1/routes/order.shipped?event_version={value}")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"event_version"}
