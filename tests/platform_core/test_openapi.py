"""The OpenAPI schema documents every endpoint of the contract, with examples."""

import pytest
from django.test import Client

CONTRACT = [
    ("post", "/api/v1/subscribers"),
    ("post", "/api/v1/subscribers/bulk"),
    ("get", "/api/v1/subscribers/{subscriber_id}"),
    ("patch", "/api/v1/subscribers/{subscriber_id}"),
    ("delete", "/api/v1/subscribers/{subscriber_id}"),
    ("put", "/api/v1/subscribers/{subscriber_id}/credentials/{provider}"),
    ("get", "/api/v1/subscribers/{subscriber_id}/preferences"),
    ("put", "/api/v1/subscribers/{subscriber_id}/preferences"),
    ("post", "/api/v1/topics"),
    ("get", "/api/v1/topics/{key}"),
    ("post", "/api/v1/topics/{key}/subscribers"),
    ("delete", "/api/v1/topics/{key}/subscribers"),
    ("post", "/api/v1/templates"),
    ("get", "/api/v1/templates"),
    ("get", "/api/v1/templates/{key}"),
    ("put", "/api/v1/templates/{key}"),
    ("post", "/api/v1/templates/{key}/preview"),
    ("post", "/api/v1/workflows"),
    ("get", "/api/v1/workflows/{key}"),
    ("post", "/api/v1/routes"),
    ("get", "/api/v1/routes/{event}"),
    ("post", "/api/v1/integrations"),
    ("get", "/api/v1/integrations/{integration_id}"),
    ("get", "/api/v1/audit-log"),
    ("post", "/api/v1/throttles"),
    ("get", "/api/v1/throttles"),
    ("get", "/api/v1/throttles/{key}"),
    ("put", "/api/v1/throttles/{key}"),
    ("delete", "/api/v1/throttles/{key}"),
    ("post", "/api/v1/events/trigger"),
    ("post", "/api/v1/events/bulk"),
    ("post", "/api/v1/events/broadcast"),
    ("get", "/api/v1/notifications"),
    ("get", "/api/v1/notifications/{notification_id}"),
    ("get", "/api/v1/deliveries"),
    ("get", "/api/v1/deliveries/{delivery_id}"),
    ("post", "/api/v1/deliveries/{delivery_id}/replay"),
    ("get", "/api/v1/inbox/{subscriber_id}/messages"),
    ("get", "/api/v1/inbox/{subscriber_id}/count"),
    ("post", "/api/v1/inbox/{subscriber_id}/messages/{message_id}/read"),
    ("post", "/api/v1/inbox/{subscriber_id}/read-all"),
    ("get", "/api/v1/queues/stats"),
    ("post", "/api/v1/integrations/{integration_id}/webhook"),
    ("get", "/api/v1/suppressions"),
    ("delete", "/api/v1/suppressions/{suppression_id}"),
]


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        response = Client(HTTP_HOST="localhost").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(("method", "path"), CONTRACT)
def test_every_contract_endpoint_is_documented_with_an_example(schema, method, path):
    operation = schema["paths"][path][method]
    assert operation.get("summary")
    if set(operation["responses"]) & {"200", "201", "202"}:  # 204 has no body to show
        assert "example" in str(operation), f"{method.upper()} {path} has no example"


def test_api_key_security_scheme(schema):
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "Authorization"


@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_interactive_docs_are_served_without_a_key(test_tenants, db, host):
    response = Client(HTTP_HOST=host).get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", path, operation


def resolve(schema, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_operation_that_needs_a_key_documents_401(schema):
    missing = [
        name
        for name, _, operation in operations(schema)
        if any(operation.get("security", [])) and "401" not in operation["responses"]
    ]
    assert missing == []
    assert len(list(operations(schema))) > 40


def test_every_operation_on_a_resource_documents_404(schema):
    missing = [
        name
        for name, path, operation in operations(schema)
        if "{" in path and "404" not in operation["responses"]
    ]
    assert missing == []


def test_every_operation_documents_406_for_an_accept_it_cannot_serve(schema):
    missing = [
        name for name, _, operation in operations(schema) if "406" not in operation["responses"]
    ]
    assert missing == []


def test_every_error_response_is_the_envelope(schema):
    for name, _, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                body = resolve(schema, response["content"]["application/json"]["schema"])
                assert body["required"] == ["error"], f"{name} {status}"
                error = resolve(schema, body["properties"]["error"])
                assert {"code", "message"} <= set(error["properties"]), f"{name} {status}"


def test_a_view_documented_error_keeps_its_example(schema):
    response = schema["paths"]["/api/v1/subscribers"]["post"]["responses"]["400"]
    assert "InvalidPhone" in response["content"]["application/json"]["examples"]


@pytest.mark.parametrize(
    ("component", "field", "max_items"),
    [
        ("TriggerRequest", "to", 100),
        ("BulkTriggerRequest", "events", 100),
        ("SubscriberBulkInputRequest", "subscribers", 1000),
        ("TopicSubscribersInputRequest", "subscribers", 1000),
    ],
)
def test_batch_caps_are_documented(schema, component, field, max_items):
    assert schema["components"]["schemas"][component]["properties"][field]["maxItems"] == max_items


def test_every_limit_parameter_has_its_bounds(schema):
    limits = [
        parameter["schema"]
        for _, _, operation in operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and parameter["name"] == "limit"
    ]
    assert len(limits) >= 10
    assert all(limit == {"type": "integer", "minimum": 1, "maximum": 500} for limit in limits)
