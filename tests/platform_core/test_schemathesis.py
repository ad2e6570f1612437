"""Schemathesis over the whole OpenAPI schema, in-process against the WSGI app.

For every operation: the schema's own examples, then a few generated requests — valid ones
and invalid ones — sent with a real API key to a real tenant's host. Every response must be
below 500, have a documented status code, the documented content type and a body matching
the schema, and every error must be the JSON envelope. Seeded and derandomized, so a run is
the same run each time. Requests run inside the test's transaction: nothing is committed,
nothing is enqueued.
"""

from __future__ import annotations

import json

import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.settings import spectacular_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CONFIG = {
    "seed": 20261201,
    "generation": {"mode": "all", "deterministic": True},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}
EXAMPLES_PER_OPERATION = 3


class InProcessApp:
    """Django's WSGI handler, sharing the test's database connection and transaction.

    Like Django's test client, it keeps `close_old_connections` off the request signals:
    inside a test transaction it would close the connection the test runs in.
    """

    def __init__(self):
        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            response.close()
            return [body]
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


def served_schema() -> dict:
    """The schema `GET /api/schema/` serves, built without a request (at collection time)."""
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS(
        urlconf=spectacular_settings.SERVE_URLCONF
    )
    return json.loads(OpenApiJsonRenderer().render(generator.get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(
    served_schema(), config=schemathesis.Config.from_dict(CONFIG)
)
APP = InProcessApp()


def error_envelope(ctx, response, case):
    """Every 4xx/5xx body is `{"error": {"code": "<snake_case>", "message": "..."}}`."""
    if response.status_code < 400:
        return None
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"error {response.status_code} is not JSON"
    )
    body = json.loads(response.content)
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"no error envelope: {body!r}"
    assert isinstance(error.get("code"), str) and error["code"].islower(), body
    assert isinstance(error.get("message"), str) and error["message"], body
    if "fields" in error:
        assert isinstance(error["fields"], dict), body
    return True


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, acme):
    case.call_and_validate(
        app=APP,
        base_url=f"http://{acme.host}",
        headers={"Authorization": f"ApiKey {acme.key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            error_envelope,
        ],
    )


def test_the_schema_under_test_is_the_one_served(acme):
    from django.test import Client

    response = Client(HTTP_HOST=acme.host).get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert response.json() == served_schema()
