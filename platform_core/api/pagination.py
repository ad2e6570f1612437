"""Lists are `{"results": [...], "next": "<url or null>"}`, paged by an opaque cursor."""

from rest_framework import pagination
from rest_framework.response import Response


class CursorPagination(pagination.CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "limit"
    max_page_size = 500

    def get_ordering(self, request, queryset, view):
        """A view's own `ordering` (a unique, indexed key) wins over the default."""
        ordering = getattr(view, "ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

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
