"""Hostile JSON bodies cost a 400 with a stable code naming the field, and change nothing."""

from __future__ import annotations

import io
import json

import pytest
from django_tenants.utils import schema_context

from notifications.models import Notification, Subscriber
from platform_core.api.parsers import JSONParser


def post_raw(api, path: str, body: str | bytes):
    raw = body.encode() if isinstance(body, str) else body
    return api.generic("POST", path, raw, content_type="application/json")


def assert_refused(response, code: str) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def subscribers_in(tenant) -> int:
    with schema_context(tenant.schema):
        return Subscriber.objects.count()


@pytest.mark.parametrize(
    ("escaped", "char"),
    [
        ("\\u0000", "U+0000"),
        ("\\u0001", "U+0001"),
        ("\\b", "U+0008"),
        ("\\f", "U+000C"),
        ("\\u001F", "U+001F"),
        ("\\u007f", "U+007F"),
        ("\\u0085", "U+0085"),
        ("\u0085", "U+0085"),  # a raw C1 character, legal unescaped in JSON text
        ("\\ud800", "U+D800"),  # an unpaired surrogate
    ],
)
def test_a_control_character_in_a_value_is_refused_with_its_path(acme, acme_api, escaped, char):
    # given
    body = '{"subscriber_id": "u-1", "data": {"notes": ["fine", "a' + escaped + 'b"]}}'

    # when
    response = post_raw(acme_api, "/api/v1/subscribers", body)

    # then
    error = assert_refused(response, "invalid_characters")
    assert error["fields"] == {"data.notes.1": [f"Holds the character {char}."]}
    assert subscribers_in(acme) == 0


def test_a_control_character_in_a_key_is_refused_naming_its_object(acme, acme_api):
    response = post_raw(
        acme_api, "/api/v1/subscribers", '{"subscriber_id": "u-1", "data": {"a\\u0000": 1}}'
    )

    error = assert_refused(response, "invalid_characters")
    assert error["fields"] == {"data": ["A key holds the character U+0000."]}
    assert subscribers_in(acme) == 0


def test_nul_in_a_trigger_payload_is_refused_before_anything_is_stored(acme, acme_api):
    body = {"event": "order.shipped", "to": ["u-1"], "payload": {"order": {"note": "x\u0000y"}}}

    response = acme_api.post("/api/v1/events/trigger", body)

    error = assert_refused(response, "invalid_characters")
    assert error["fields"] == {"payload.order.note": ["Holds the character U+0000."]}
    with schema_context(acme.schema):
        assert not Notification.objects.exists()


def test_nul_in_a_bulk_item_names_its_index(acme, acme_api):
    body = {"subscribers": [{"subscriber_id": "u-1"}, {"subscriber_id": "u-\u00002"}]}

    response = acme_api.post("/api/v1/subscribers/bulk", body)

    error = assert_refused(response, "invalid_characters")
    assert error["fields"] == {"subscribers.1.subscriber_id": ["Holds the character U+0000."]}
    assert subscribers_in(acme) == 0


def test_tab_newline_carriage_return_and_escaped_backslashes_are_accepted(acme, acme_api):
    # `\\u0000` is a backslash followed by "u0000": text, not a control character.
    body = (
        '{"subscriber_id": "u-1", "first_name": "A\\tB",'
        ' "data": {"n": "1\\r\\n2", "p": "\\\\u0000\\\\b"}}'
    )

    response = post_raw(acme_api, "/api/v1/subscribers", body)

    assert response.status_code == 201, response.content
    assert response.json()["first_name"] == "A\tB"
    assert response.json()["data"] == {"n": "1\r\n2", "p": "\\u0000\\b"}


def test_a_body_nested_10000_levels_deep_is_refused(acme, acme_api):
    body = '{"subscriber_id": "u-1", "data": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}"

    response = post_raw(acme_api, "/api/v1/subscribers", body)

    error = assert_refused(response, "too_deep")
    assert "32" in error["message"]
    assert subscribers_in(acme) == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("[" * 10_000, "too_deep"),
        ('{"a": ' * 10_000, "too_deep"),
        ("[" + "]" * 10_000, "malformed_json"),
        ("[" + "[], " * 40 + "[" * 20, "malformed_json"),
    ],
)
def test_an_unbalanced_body_is_refused_never_a_recursion_error(acme_api, body, code):
    assert_refused(post_raw(acme_api, "/api/v1/subscribers", body), code)


def test_brackets_inside_strings_do_not_count_as_nesting(acme, acme_api):
    body = {"subscriber_id": "u-1", "data": {"art": "[[[{{{" * 100 + '\\"[[[' * 50}}

    response = acme_api.post("/api/v1/subscribers", body)

    assert response.status_code == 201, response.content
    assert response.json()["data"] == body["data"]


def test_nesting_up_to_the_limit_is_accepted(acme, acme_api):
    # the body is level 1, `data` level 2: 30 more arrays make 32
    body = '{"subscriber_id": "u-1", "data": {"x": ' + "[" * 30 + "]" * 30 + "}}"

    response = post_raw(acme_api, "/api/v1/subscribers", body)

    assert response.status_code == 201, response.content
    deeper = '{"subscriber_id": "u-2", "data": {"x": ' + "[" * 31 + "]" * 31 + "}}"
    assert_refused(post_raw(acme_api, "/api/v1/subscribers", deeper), "too_deep")


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_a_number_that_is_not_finite_is_refused_with_its_path(acme, acme_api, number):
    body = '{"subscriber_id": "u-1", "data": {"price": [1.5, ' + number + "]}}"

    response = post_raw(acme_api, "/api/v1/subscribers", body)

    error = assert_refused(response, "invalid_number")
    assert error["fields"] == {"data.price.1": ["Not a finite number."]}
    assert subscribers_in(acme) == 0


def test_an_integer_too_long_to_read_is_refused(acme, acme_api):
    body = '{"subscriber_id": "u-1", "data": {"n": %s}}' % ("9" * 5000)

    assert_refused(post_raw(acme_api, "/api/v1/subscribers", body), "invalid_number")
    assert subscribers_in(acme) == 0


def test_ordinary_numbers_are_kept(acme, acme_api):
    body = '{"subscriber_id": "u-1", "data": {"n": [0, -1, 2.5, 1e300, 12345678901234567890]}}'

    response = post_raw(acme_api, "/api/v1/subscribers", body)

    assert response.status_code == 201, response.content
    assert response.json()["data"]["n"] == [0, -1, 2.5, 1e300, 12345678901234567890]


def test_a_body_that_is_not_utf8_is_malformed(acme_api):
    assert_refused(
        post_raw(acme_api, "/api/v1/subscribers", b'{"subscriber_id": "\xff"}'), "malformed_json"
    )


def test_without_a_key_a_hostile_body_is_still_a_401(acme):
    from tests.conftest import ApiClient

    response = post_raw(ApiClient(acme.host), "/api/v1/subscribers", '{"a": "\\u0000"}')

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_stream_longer_than_the_limit_is_too_large(settings):
    from django.core.exceptions import RequestDataTooBig

    settings.API_MAX_BODY_BYTES = 64
    with pytest.raises(RequestDataTooBig):
        JSONParser().parse(io.BytesIO(json.dumps({"a": "x" * 100}).encode()))
    assert JSONParser().parse(io.BytesIO(b'{"a": 1}')) == {"a": 1}
