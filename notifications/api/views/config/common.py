"""What the configuration views share: lookups, body validation, pagination, OpenAPI docs."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from platform_core.api.pagination import CursorPagination
from platform_core.errors import ApplicationError, ErrorKind


def not_found(message: str) -> ApplicationError:
    return ApplicationError("not_found", message, kind=ErrorKind.NOT_FOUND)


def found(row, message: str):
    """`row`, or a 404 with `message` if there is none."""
    if row is None:
        raise not_found(message)
    return row


def validated(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _Pagination(CursorPagination):
    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        # An example value lets drf-spectacular show list examples as a whole page.
        response["properties"]["next"]["example"] = None
        return response


# NOTE: no docstring: drf-spectacular would show it as the list operations' description.
class ListView(GenericAPIView):
    pagination_class = _Pagination
    ordering: tuple[str, ...] = ("id",)

    def _page(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


ENVELOPE = 'Error envelope `{"error": {"code", "message", "fields"?}}`'
INVALID = OpenApiResponse(
    description=f"{ENVELOPE}, code `validation_error`; `fields` names each invalid field."
)
NOT_FOUND = OpenApiResponse(description=f"{ENVELOPE}, code `not_found`.")
TIMESTAMPS = {"created_at": "2025-05-01T09:30:00Z", "updated_at": "2025-05-01T09:30:00Z"}


def conflict_response(code: str) -> OpenApiResponse:
    return OpenApiResponse(description=f"{ENVELOPE}, code `{code}`.")


class Docs:
    """The OpenAPI description of one resource's operations: its tag, its output and one
    example of a request body and of the response to it. Each method is an `extend_schema`
    for one kind of operation; other `extend_schema` arguments pass through."""

    def __init__(self, tag: str, output, example: str, request: dict, response: dict):
        self.tag = tag
        self.output = output
        self.request_example = OpenApiExample(example, request_only=True, value=request)
        self.response_example = OpenApiExample(example, response_only=True, value=response)

    def _schema(self, summary: str, responses, examples: list, **kwargs):
        return extend_schema(
            summary=summary, tags=[self.tag], responses=responses, examples=examples, **kwargs
        )

    def list(self, summary: str, **kwargs):
        return self._schema(summary, self.output(many=True), [self.response_example], **kwargs)

    def create(self, summary: str, *, request, conflict: str | None = None, **kwargs):
        responses = {201: self.output, 400: INVALID}
        if conflict:
            responses[409] = conflict_response(conflict)
        examples = [self.request_example, self.response_example]
        return self._schema(summary, responses, examples, request=request, **kwargs)

    def get(self, summary: str, **kwargs):
        responses = {200: self.output, 404: NOT_FOUND}
        return self._schema(summary, responses, [self.response_example], **kwargs)

    def change(self, summary: str, *, request, example: OpenApiExample | None = None, **kwargs):
        """PUT (the request example) or PATCH (its own `example`)."""
        responses = {200: self.output, 400: INVALID, 404: NOT_FOUND}
        examples = [example or self.request_example, self.response_example]
        return self._schema(summary, responses, examples, request=request, **kwargs)

    def delete(self, summary: str, *, conflict: str | None = None, **kwargs):
        responses = {204: None, 404: NOT_FOUND}
        if conflict:
            responses[409] = conflict_response(conflict)
        return extend_schema(
            summary=summary, tags=[self.tag], request=None, responses=responses, **kwargs
        )
