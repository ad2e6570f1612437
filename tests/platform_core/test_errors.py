"""Every error is the JSON envelope of API.md, with a stable code; never HTML, never a trace."""

import pytest

pytestmark = pytest.mark.urls("tests.platform_core.urls")


def assert_envelope(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_validation_error_names_fields(acme_api):
    error = assert_envelope(
        acme_api.post("/api/v1/_test/echo", {"name": "x" * 11, "count": -1}),
        400,
        "validation_error",
    )
    assert set(error["fields"]) == {"name", "count"}


def test_missing_required_field(acme_api):
    error = assert_envelope(acme_api.post("/api/v1/_test/echo", {}), 400, "validation_error")
    assert "name" in error["fields"]


def test_unknown_fields_are_named(acme_api):
    error = assert_envelope(
        acme_api.post("/api/v1/_test/echo", {"name": "ok", "colour": "red", "size": 2}),
        400,
        "validation_error",
    )
    assert error["fields"] == {"colour": ["Unknown field."], "size": ["Unknown field."]}


def test_valid_body_passes(acme_api):
    response = acme_api.post("/api/v1/_test/echo", {"name": "ok", "count": 2})
    assert response.status_code == 200
    assert response.json() == {"name": "ok", "count": 2}


def test_malformed_json(acme_api):
    response = acme_api.generic(
        "POST", "/api/v1/_test/echo", b'{"name": ', content_type="application/json"
    )
    assert_envelope(response, 400, "malformed_json")


def test_wrong_content_type(acme_api):
    response = acme_api.generic("POST", "/api/v1/_test/echo", b"name=x", content_type="text/plain")
    assert_envelope(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/nowhere", "/api/v2/tenant"])
def test_unknown_route(acme_api, path):
    assert_envelope(acme_api.get(path), 404, "not_found")


def test_wrong_method(acme_api):
    assert_envelope(acme_api.delete("/api/v1/tenant"), 405, "method_not_allowed")


def test_oversized_body_is_413_before_parsing(acme_api):
    body = b'{"name": "' + b"x" * (512 * 1024) + b'"}'
    response = acme_api.generic("POST", "/api/v1/_test/echo", body, content_type="application/json")
    assert_envelope(response, 413, "payload_too_large")


def test_body_just_under_the_limit_is_parsed(acme_api):
    body = b'{"name": "' + b"x" * (500 * 1024) + b'"}'
    response = acme_api.generic("POST", "/api/v1/_test/echo", body, content_type="application/json")
    error = assert_envelope(response, 400, "validation_error")
    assert "name" in error["fields"]


def test_unhandled_exception_is_a_json_500_without_the_trace(acme, acme_api):
    acme_api.raise_request_exception = False
    response = acme_api.get("/api/v1/_test/boom")
    error = assert_envelope(response, 500, "internal_error")
    assert "secret internal detail" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["message"]
