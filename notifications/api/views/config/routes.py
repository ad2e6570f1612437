"""Configuration API: routes (event → workflow, priority)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from notifications.api.serializers.config import (
    RouteInSerializer,
    RouteOutSerializer,
    RouteReplaceSerializer,
)
from notifications.api.views.config.common import (
    INVALID,
    NOT_FOUND,
    TIMESTAMPS,
    Docs,
    ListView,
    found,
    validated,
)
from notifications.selectors.config import route_get, route_list
from notifications.services.config import route_create, route_delete, route_update
from platform_core.errors import validation_error

_ROUTE_BODY = {
    "event": "order.shipped",
    "workflow": "order-shipped",
    "priority": "high",
    "active": True,
    "max_attempts": 5,
    "event_version": None,
}
_ROUTES = Docs(
    "routes",
    RouteOutSerializer,
    "Order shipped",
    request=_ROUTE_BODY,
    response={**_ROUTE_BODY, **TIMESTAMPS},
)


class RouteListView(ListView):
    ordering = ("event",)

    @_ROUTES.list(
        "List routes",
        parameters=[
            OpenApiParameter("workflow", OpenApiTypes.STR, description="Only this workflow's."),
            OpenApiParameter("active", OpenApiTypes.BOOL),
        ],
    )
    def get(self, request):
        active = request.query_params.get("active")
        queryset = route_list(
            workflow_key=request.query_params.get("workflow"),
            active=None if active is None else active.lower() in ("1", "true", "yes"),
        )
        return self._page(queryset, RouteOutSerializer)

    @_ROUTES.create(
        "Route an event to a workflow",
        description=(
            "With `event_version`, only triggers of that version take the route; v1 and v2 "
            "producers can then run side by side. 409 `route_exists` if the event (and "
            "version) is routed already."
        ),
        request=RouteInSerializer,
        conflict="route_exists",
    )
    def post(self, request):
        data = validated(RouteInSerializer, request)
        route = route_create(workflow_key=data.pop("workflow"), **data)
        return Response(RouteOutSerializer(route).data, status=status.HTTP_201_CREATED)


_EVENT_VERSION = OpenApiParameter(
    "event_version",
    OpenApiTypes.INT,
    description="The route bound to this event version (default: the event's unbound route).",
)


def _event_version(request) -> int | None:
    raw = request.query_params.get("event_version")
    if raw in (None, ""):
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise validation_error({"event_version": ["Use a whole number, 1 or more."]})
    return int(raw)


@extend_schema_view(
    get=extend_schema(
        parameters=[_EVENT_VERSION],
        responses={200: RouteOutSerializer, 400: INVALID, 404: NOT_FOUND},
    ),
    put=extend_schema(parameters=[_EVENT_VERSION]),
    patch=extend_schema(parameters=[_EVENT_VERSION]),
    delete=extend_schema(
        parameters=[_EVENT_VERSION], responses={204: None, 400: INVALID, 404: NOT_FOUND}
    ),
)
class RouteDetailView(GenericAPIView):
    def _get(self, event: str):
        version = _event_version(self.request)
        shown = f"event '{event}'" + (f" version {version}" if version else "")
        return found(route_get(event=event, event_version=version), f"No route for {shown}.")

    def _update(self, request, event: str, *, partial: bool) -> Response:
        route = self._get(event)
        context = {"event": event, "event_version": route.event_version}
        data = validated(RouteReplaceSerializer, request, partial=partial, context=context)
        data.pop("event", None)
        route = route_update(route=route, workflow_key=data.pop("workflow", None), **data)
        return Response(RouteOutSerializer(route).data)

    @_ROUTES.get("Get a route")
    def get(self, request, event: str):
        return Response(RouteOutSerializer(self._get(event)).data)

    @_ROUTES.change(
        "Replace a route",
        description="Every field is set; omitted ones take their defaults.",
        request=RouteReplaceSerializer,
    )
    def put(self, request, event: str):
        return self._update(request, event, partial=False)

    @_ROUTES.change(
        "Change some fields of a route",
        request=RouteReplaceSerializer,
        example=OpenApiExample("Pause a route", request_only=True, value={"active": False}),
    )
    def patch(self, request, event: str):
        return self._update(request, event, partial=True)

    @_ROUTES.delete(
        "Delete a route",
        description="The event is no longer accepted (422 `unknown_event` on trigger).",
    )
    def delete(self, request, event: str):
        route_delete(route=self._get(event))
        return Response(status=status.HTTP_204_NO_CONTENT)
