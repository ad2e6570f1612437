"""Lists are `{"results": [...], "next": "<url or null>"}`, paged by an opaque cursor.

`limit` is the page size, 1-500 (default API_PAGE_SIZE); a `limit` that is not a whole number
in that range is a 400 naming `limit`, and a `cursor` that is not one Clarion handed out is a
400 `invalid_cursor`.
"""

from base64 import b64decode
from urllib import parse

from django.core.exceptions import FieldDoesNotExist, ValidationError
from rest_framework import exceptions, pagination
from rest_framework.response import Response

from platform_core.errors import ApplicationError, ErrorKind, validation_error

MAX_PAGE_SIZE = 500


class CursorPagination(pagination.CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        raw = raw.strip()
        digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(self.max_page_size))
        if not digits or not 1 <= int(raw) <= self.max_page_size:
            raise validation_error(
                {"limit": [f"Ensure this is a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF's cursor, refused unless it is exactly what `encode_cursor` writes: strict
        base64 of `o`/`r`/`p` tokens, its position a valid value of the ordering field."""
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            querystring = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            tokens = parse.parse_qs(querystring, keep_blank_values=True, strict_parsing=True)
            if set(tokens) - {"o", "r", "p"}:
                raise ValueError(querystring)
            cursor = super().decode_cursor(request)
            if cursor.position is not None:
                self._position_check(cursor.position)
        except (ValueError, ValidationError, exceptions.NotFound):
            raise ApplicationError(
                "invalid_cursor",
                "The cursor is not valid: use the `next` link of a previous page as it is.",
                kind=ErrorKind.VALIDATION,
                fields={"cursor": ["Invalid cursor."]},
            ) from None
        return cursor

    def _position_check(self, position: str) -> None:
        """ValidationError unless `position` is a value of the first ordering field."""
        name = self.ordering[0].lstrip("-")
        try:
            field = self._model._meta.get_field(name)
        except FieldDoesNotExist:  # a related field's path: compared as text
            return
        field.to_python(position)

    def get_ordering(self, request, queryset, view):
        """A view's own `ordering` (a unique, indexed key) wins over the default."""
        ordering = getattr(view, "ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Page size, 1 to {self.max_page_size} (default {self.page_size}); "
                    "anything else is a 400 naming `limit`."
                )
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = (
                    "The opaque cursor of a `next` link; any other value is a 400 `invalid_cursor`."
                )
        return parameters

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "example": "https://acme.clarion.example/api/v1/deliveries?cursor=cD0yMDI2",
                },
            },
        }
