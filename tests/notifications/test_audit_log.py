"""Audit history: every configuration change through the API or the admin, who made it, the
state before and after; never a credential."""

import json

from django.db import connection
from django_tenants.utils import schema_context

from notifications.models import Integration, Route
from tests.conftest import ApiClient
from tests.notifications.test_admin import ADMIN, client, form_errors, smtp_data  # noqa: F401

SECRET = "audit-Secret-pa55word-93f1"


def _log(api, **params):
    response = api.get("/api/v1/audit-log", params)
    assert response.status_code == 200, response.content
    return response.json()


def _workflow(api, key="orders"):
    body = {"key": key, "name": "Orders", "steps": [{"type": "send", "channel": "in_app",
            "template": "order-shipped"}]}  # fmt: skip
    assert (
        api.post(
            "/api/v1/templates",
            {"key": "order-shipped", "channel": "in_app", "body": "Order {{ payload.order_id }}"},
        ).status_code
        == 201
    )
    assert api.post("/api/v1/workflows", body).status_code == 201


def test_an_api_change_and_an_admin_change_of_a_route_are_both_in_the_log(
    client,  # noqa: F811
    acme,
    acme_api,
):
    # given a route created and changed through the API
    _workflow(acme_api)
    route = {"event": "order.shipped", "workflow": "orders", "priority": "normal"}
    assert acme_api.post("/api/v1/routes", route).status_code == 201
    assert acme_api.patch("/api/v1/routes/order.shipped", {"priority": "high"}).status_code == 200
    with schema_context(acme.schema):
        row = Route.objects.get(event="order.shipped")
    connection.set_schema_to_public()

    # when an admin user changes it in the admin
    changed = client.post(
        f"{ADMIN}/route/{row.pk}/change/",
        {"event": "order.shipped", "workflow": row.workflow_id, "priority": "low",
         "max_attempts": "5"},
    )  # fmt: skip
    assert changed.status_code == 302, form_errors(changed)

    # then the log shows all three changes, newest first, with actor, before and after
    entries = _log(acme_api, resource="route", key="order.shipped")["results"]
    assert [entry["action"] for entry in entries] == ["update", "update", "create"]
    admin_change, api_change, created = entries
    assert admin_change["actor"] == "admin:ops@acme.test"
    assert (admin_change["before"]["priority"], admin_change["after"]["priority"]) == (
        "high", "low",
    )  # fmt: skip
    # The admin form left `active` unticked: that is part of the change, too.
    assert (admin_change["before"]["active"], admin_change["after"]["active"]) == (True, False)
    assert api_change["actor"].startswith("api_key:")
    assert (api_change["before"]["priority"], api_change["after"]["priority"]) == (
        "normal", "high",
    )  # fmt: skip
    assert created["before"] is None
    assert created["after"]["event"] == "order.shipped"
    # A reference to another resource is shown by its key.
    assert created["after"]["workflow"] == "orders"
    assert "id" not in created["after"]
    assert all(entry["key"] == "order.shipped" for entry in entries)


def test_the_actor_is_the_api_keys_prefix(acme, acme_api):
    _workflow(acme_api)
    with schema_context("public"):
        from tenants.models import ApiKey

        prefixes = set(ApiKey.objects.filter(tenant=acme.tenant).values_list("prefix", flat=True))
    entries = _log(acme_api, resource="workflow", key="orders")["results"]
    assert len(entries) == 1
    assert entries[0]["actor"].removeprefix("api_key:") in prefixes


def test_a_workflows_steps_are_part_of_its_before_and_after(acme, acme_api):
    _workflow(acme_api)
    replaced = {"name": "Orders", "steps": [{"type": "delay", "seconds": 60},
                {"type": "send", "channel": "in_app", "template": "order-shipped"}]}  # fmt: skip
    assert acme_api.put("/api/v1/workflows/orders", replaced).status_code == 200

    update = _log(acme_api, resource="workflow", key="orders")["results"][0]

    assert update["action"] == "update"
    assert [step["type"] for step in update["before"]["steps"]] == ["send"]
    assert [step["type"] for step in update["after"]["steps"]] == ["delay", "send"]


def test_a_delete_is_logged_with_its_last_state(acme, acme_api):
    body = {"key": "sms-3", "limit": 3, "window_seconds": 3600}
    assert acme_api.post("/api/v1/throttles", body).status_code == 201
    assert acme_api.delete("/api/v1/throttles/sms-3").status_code == 204

    deleted, created = _log(acme_api, resource="throttle")["results"]

    assert (deleted["action"], deleted["after"], deleted["before"]["limit"]) == ("delete", None, 3)
    assert created["action"] == "create"


def test_an_integrations_credentials_are_never_recorded(client, acme, acme_api):  # noqa: F811
    # given an integration created through the API and changed in the admin, both with the secret
    body = {"channel": "email", "provider": "smtp", "name": "Relay",
            "settings": {"host": "smtp.example.com", "port": 587, "from_email": "a@acme.test"},
            "credentials": {"username": "acme", "password": SECRET}}  # fmt: skip
    created = acme_api.post("/api/v1/integrations", body)
    assert created.status_code == 201, created.content
    integration_id = created.json()["id"]
    changed = client.post(
        f"{ADMIN}/integration/{integration_id}/change/",
        smtp_data(name="Relay 2", credentials=json.dumps({"username": "x", "password": SECRET})),
    )
    assert changed.status_code == 302, form_errors(changed)
    with schema_context(acme.schema):
        encrypted = Integration.objects.get(pk=integration_id).credentials_encrypted
    connection.set_schema_to_public()

    # when the whole audit log is read
    response = acme_api.get("/api/v1/audit-log", {"resource": "integration"})

    # then the changes are there, and neither the secret nor its ciphertext is
    entries = response.json()["results"]
    assert [entry["action"] for entry in entries] == ["update", "create"]
    assert entries[0]["after"]["name"] == "Relay 2"
    assert entries[0]["key"] == str(integration_id) == str(entries[0]["after"]["id"])
    assert SECRET not in response.content.decode()
    assert encrypted[:40] not in response.content.decode()
    # nor is anything in the event tables of the tenant's schema
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name LIKE %s",
            [acme.schema, "notifications\\_%event"],
        )
        tables = [name for (name,) in cursor.fetchall()]
        assert "notifications_integrationevent" in tables
        for table in tables:
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{acme.schema}"."{table}" t')
            dumped = " ".join(text for (text,) in cursor.fetchall())
            assert SECRET not in dumped
            assert encrypted[:40] not in dumped


def test_the_history_lives_in_each_tenants_schema(acme, acme_api, globex, globex_api):
    _workflow(acme_api)

    assert len(_log(acme_api, resource="workflow")["results"]) == 1
    assert _log(globex_api, resource="workflow")["results"] == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'notifications_workflowevent' ORDER BY 1"
        )
        schemas = {name for (name,) in cursor.fetchall()}
    assert {acme.schema, globex.schema} <= schemas
    assert "public" not in schemas


def test_resources_without_changes_yet_are_an_empty_list(acme_api):
    assert _log(acme_api, resource="schema") == {"results": [], "next": None}
    assert _log(acme_api, resource="webhook_endpoint")["results"] == []


def test_an_event_schema_change_is_logged_by_event(acme_api):
    schema = {"type": "object", "required": ["order_id"]}
    path = "/api/v1/events/order.shipped/schemas/1"
    assert acme_api.put(path, {"schema": schema}).status_code == 201
    assert acme_api.put(path, {"schema": {"type": "object"}}).status_code == 200

    entries = _log(acme_api, resource="schema", key="order.shipped")["results"]

    assert [entry["action"] for entry in entries] == ["update", "create"]
    assert entries[0]["before"]["schema"] == schema
    assert entries[0]["after"]["schema"] == {"type": "object"}
    assert entries[0]["actor"].startswith("api_key:")


def test_a_webhook_endpoints_secret_is_never_recorded(acme, acme_api):
    created = acme_api.post(
        "/api/v1/webhook-endpoints",
        {"url": "https://hooks.acme.example/in", "events": ["delivery.bounced"]},
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert (
        acme_api.patch(
            f"/api/v1/webhook-endpoints/{created.json()['id']}", {"active": False}
        ).status_code
        == 200
    )

    response = acme_api.get("/api/v1/audit-log", {"resource": "webhook_endpoint"})

    entries = response.json()["results"]
    assert [entry["action"] for entry in entries] == ["update", "create"]
    assert entries[0]["before"]["active"] is True and entries[0]["after"]["active"] is False
    body = response.content.decode()
    assert secret not in body and "secret" not in body


def test_bad_parameters_are_a_400_naming_them(acme_api):
    missing = acme_api.get("/api/v1/audit-log")
    unknown = acme_api.get("/api/v1/audit-log", {"resource": "planet"})
    bad_since = acme_api.get("/api/v1/audit-log", {"resource": "route", "since": "yesterday"})
    bad_cursor = acme_api.get("/api/v1/audit-log", {"resource": "route", "cursor": "nope"})
    bad_limit = acme_api.get("/api/v1/audit-log", {"resource": "route", "limit": "0"})

    assert missing.status_code == unknown.status_code == bad_since.status_code == 400
    assert "resource" in missing.json()["error"]["fields"]
    assert "resource" in unknown.json()["error"]["fields"]
    assert "since" in bad_since.json()["error"]["fields"]
    assert bad_cursor.json()["error"]["code"] == "invalid_cursor"
    assert "limit" in bad_limit.json()["error"]["fields"]


def test_pages_and_since(acme, acme_api):
    for index in range(3):
        body = {"key": f"t{index}", "limit": 3, "window_seconds": 60}
        assert acme_api.post("/api/v1/throttles", body).status_code == 201

    first = _log(acme_api, resource="throttle", limit=2)
    second = ApiClient(acme.host, acme.key).get(first["next"]).json()
    everything = _log(acme_api, resource="throttle")["results"]
    later = _log(acme_api, resource="throttle", since=everything[0]["at"])["results"]

    assert [e["key"] for e in first["results"] + second["results"]] == ["t2", "t1", "t0"]
    assert second["next"] is None
    assert [e["key"] for e in later] == ["t2"]


def test_an_unauthenticated_request_is_a_401(acme):
    assert ApiClient(acme.host).get("/api/v1/audit-log", {"resource": "route"}).status_code == 401


def test_the_admin_shows_an_objects_history(client, acme, acme_api):  # noqa: F811
    _workflow(acme_api)
    route = {"event": "order.shipped", "workflow": "orders", "priority": "normal"}
    assert acme_api.post("/api/v1/routes", route).status_code == 201
    assert acme_api.patch("/api/v1/routes/order.shipped", {"priority": "high"}).status_code == 200
    with schema_context(acme.schema):
        row = Route.objects.get(event="order.shipped")
    connection.set_schema_to_public()

    change_page = client.get(f"{ADMIN}/route/{row.pk}/change/")
    history = client.get(f"{ADMIN}/route/{row.pk}/history/")

    assert f"/route/{row.pk}/history/" in change_page.content.decode()
    assert history.status_code == 200
    page = history.content.decode()
    assert page.count("api_key:") == 2
    assert "<td>priority</td>" in page
    assert "<code>normal</code>" in page and "<code>high</code>" in page
