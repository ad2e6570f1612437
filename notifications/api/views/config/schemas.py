"""Configuration API: event schemas (JSON Schema 2020-12 per event and version)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from notifications.api.serializers.config import EventSchemaInSerializer, EventSchemaOutSerializer
from notifications.api.views.config.common import INVALID, TIMESTAMPS, Docs, ListView, validated
from notifications.selectors.event_schemas import event_schema_list
from notifications.services.config import event_schema_put

_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id"],
    "properties": {"order_id": {"type": "string"}, "carrier": {"type": "string"}},
}
_SCHEMAS = Docs(
    "event schemas",
    EventSchemaOutSerializer,
    "Order shipped, version 2",
    request={"schema": _SCHEMA},
    response={"event": "order.shipped", "version": 2, "schema": _SCHEMA, **TIMESTAMPS},
)


class EventSchemaListView(ListView):
    ordering = ("version",)

    @_SCHEMAS.list("List an event's schemas")
    def get(self, request, event: str):
        return self._page(event_schema_list(event=event), EventSchemaOutSerializer)


class EventSchemaDetailView(GenericAPIView):
    @extend_schema(
        summary="Register or replace the schema of one version of an event",
        tags=["event schemas"],
        request=EventSchemaInSerializer,
        responses={200: EventSchemaOutSerializer, 201: EventSchemaOutSerializer, 400: INVALID},
        examples=[_SCHEMAS.request_example, _SCHEMAS.response_example],
        description=(
            "201 when the version is new, 200 when it replaces the stored schema. The schema "
            "is checked against JSON Schema 2020-12 (400 naming the problem); it holds at most "
            "64 KB and refers to nothing outside itself. Triggers of this version are held to "
            "it (422 `payload_invalid`, `fields` by JSON pointer); a trigger without "
            "`event_version` uses the highest version registered."
        ),
    )
    def put(self, request, event: str, version: int):
        data = validated(EventSchemaInSerializer, request)
        row, created = event_schema_put(event=event, version=version, schema=data["schema"])
        return Response(
            EventSchemaOutSerializer(row).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
