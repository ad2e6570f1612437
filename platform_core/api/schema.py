"""The OpenAPI schema's error responses and list bounds, added in one place for every operation.

`postprocess_errors_and_bounds` (a drf-spectacular postprocessing hook): each operation
documents the errors it can answer with (401 where a key is required, 404 where the path names
a resource, 400 where it takes input, 413 and 415 where it takes a body, 406 and 503 always),
every error response carries the envelope's schema, and every `limit` query parameter its
bounds.
What a view documents itself (a description, an example) is kept. `AutoSchema` documents a
nested list's `max_length` / `min_length` (`maxItems` / `minItems`), which drf-spectacular
leaves out.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.plumbing import is_list_serializer

from platform_core.api.pagination import CursorPagination

ENVELOPE = "ErrorEnvelope"
ENVELOPE_SCHEMA = {
    "type": "object",
    "description": 'Every API error: `{"error": {"code", "message", "fields"?}}`.',
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable snake_case code."},
                "message": {"type": "string", "description": "A sentence for people."},
                "fields": {
                    "type": "object",
                    "description": "For validation errors: messages per field path.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}

BAD_INPUT = (
    "Malformed or invalid input: `malformed_json`, `validation_error` (with `fields`), "
    "`too_deep`, `invalid_number`, `invalid_characters`."
)


def _descriptions() -> dict[str, str]:
    return {
        "400": BAD_INPUT,
        "401": (
            "No API key (`not_authenticated`) or one that is invalid, revoked or of another "
            "tenant (`authentication_failed`)."
        ),
        "404": "Nothing with this id in this tenant (`not_found`).",
        "406": (
            "The `Accept` header names no type this API serves (`not_acceptable`); send "
            "`application/json`, `*/*` or none."
        ),
        "413": f"The body is over {settings.API_MAX_BODY_BYTES} bytes (`payload_too_large`).",
        "415": "The body is not `application/json` (`unsupported_media_type`).",
        "503": (
            "A service Clarion depends on is down (`service_unavailable`); retry after "
            "`Retry-After` seconds."
        ),
    }


def _errors_of(path: str, operation: dict) -> list[str]:
    """The error statuses an operation can answer with, whatever its view documents."""
    parameters = operation.get("parameters", [])
    statuses = ["406", "503"]
    if any(requirement for requirement in operation.get("security", [])):
        statuses.append("401")
    if "{" in path:
        statuses.append("404")
    if "requestBody" in operation or parameters:
        statuses.append("400")
    if "requestBody" in operation:
        statuses += ["413", "415"]
    return statuses


def _with_envelope(response: dict) -> None:
    content = response.setdefault("content", {})
    media = content.setdefault("application/json", {})
    media.setdefault("schema", {"$ref": f"#/components/schemas/{ENVELOPE}"})


def _bound_limit(parameter: dict) -> None:
    if parameter.get("in") == "query" and parameter.get("name") == "limit":
        parameter["schema"] = {
            **parameter.get("schema", {}),
            "type": "integer",
            "minimum": 1,
            "maximum": CursorPagination.max_page_size,
        }
        parameter.setdefault(
            "description",
            f"Page size: 1 to {CursorPagination.max_page_size} (default {settings.API_PAGE_SIZE}).",
        )


def postprocess_errors_and_bounds(result, generator, request, public):
    """drf-spectacular hook: error responses with the envelope, `limit` bounds."""
    descriptions = _descriptions()
    result.setdefault("components", {}).setdefault("schemas", {})[ENVELOPE] = ENVELOPE_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in _errors_of(path, operation):
                responses.setdefault(status, {"description": descriptions[status]})
            operation["responses"] = responses = dict(sorted(responses.items()))
            for status, response in responses.items():
                if status[0] in "45":
                    _with_envelope(response)
            for parameter in operation.get("parameters", []):
                _bound_limit(parameter)
    return result


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, with the item bounds of nested lists (`Serializer(many=True, ...)`)."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        # NOTE: overrides a private method; ListField bounds are mapped there already.
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if is_list_serializer(field) and isinstance(schema, dict) and schema.get("type") == "array":
            if getattr(field, "max_length", None) is not None:
                schema["maxItems"] = field.max_length
            if getattr(field, "min_length", None) is not None:
                schema["minItems"] = field.min_length
        return schema
