"""Configuration API: templates, workflows, routes and provider integrations.

Thin views: validate the body's shape, call one service or selector, serialise the result.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from notifications.api.serializers.config import (
    IntegrationInSerializer,
    IntegrationOutSerializer,
    IntegrationReplaceSerializer,
    RouteInSerializer,
    RouteOutSerializer,
    RouteReplaceSerializer,
    TemplateInSerializer,
    TemplateOutSerializer,
    TemplateReplaceSerializer,
    WorkflowInSerializer,
    WorkflowOutSerializer,
    WorkflowReplaceSerializer,
)
from notifications.models import Channel
from notifications.selectors.config import (
    integration_get,
    integration_list,
    route_get,
    route_list,
    template_get,
    template_list,
    templates_for_key,
    workflow_get,
    workflow_list,
)
from notifications.services.config import (
    integration_create,
    integration_delete,
    integration_update,
    route_create,
    route_delete,
    route_update,
    template_create,
    template_delete,
    template_upsert,
    workflow_create,
    workflow_delete,
    workflow_replace,
)
from platform_core.api.errors import ApiError
from platform_core.api.pagination import CursorPagination


def _not_found(message: str) -> ApiError:
    return ApiError("not_found", message, status_code=status.HTTP_404_NOT_FOUND)


def _valid(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _Pagination(CursorPagination):
    """Cursor pagination ordered by the view's `ordering`."""

    def get_ordering(self, request, queryset, view):
        return tuple(view.ordering)

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        # An example value lets drf-spectacular show list examples as a whole page.
        response["properties"]["next"]["example"] = None
        return response


class _ListView(GenericAPIView):
    pagination_class = _Pagination
    ordering: tuple[str, ...] = ("id",)

    def _page(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


_LOCALE_PARAM = OpenApiParameter(
    "locale",
    OpenApiTypes.STR,
    description="The template's locale; default: the server's default locale (`en`).",
)
_DELETE_LOCALE_PARAM = OpenApiParameter(
    "locale",
    OpenApiTypes.STR,
    description="Delete only this locale; without it, every locale of the key is deleted.",
)
_ENVELOPE = 'Error envelope `{"error": {"code", "message", "fields"?}}`'
_INVALID = OpenApiResponse(
    description=f"{_ENVELOPE}, code `validation_error`; `fields` names each invalid field."
)
_NOT_FOUND = OpenApiResponse(description=f"{_ENVELOPE}, code `not_found`.")


def _conflict(code: str) -> OpenApiResponse:
    return OpenApiResponse(description=f"{_ENVELOPE}, code `{code}`.")


# --- templates ---------------------------------------------------------------------------

_TEMPLATE_REQUEST = OpenApiExample(
    "Order shipped email",
    request_only=True,
    value={
        "key": "order-shipped",
        "channel": "email",
        "locale": "en",
        "subject": "Your order {{ payload.order_id }} is on its way",
        "body": "<p>Hi {{ subscriber.first_name }}, order {{ payload.order_id }} has shipped.</p>",
        "variants": [
            {
                "name": "short",
                "weight": 1,
                "subject": "Shipped: {{ payload.order_id }}",
                "body": "<p>Order {{ payload.order_id }} is on its way.</p>",
            }
        ],
    },
)
_TEMPLATE_RESPONSE = OpenApiExample(
    "Order shipped email",
    response_only=True,
    value={
        "key": "order-shipped",
        "channel": "email",
        "locale": "en",
        "subject": "Your order {{ payload.order_id }} is on its way",
        "body": "<p>Hi {{ subscriber.first_name }}, order {{ payload.order_id }} has shipped.</p>",
        "cta_url": "",
        "variants": [
            {
                "name": "short",
                "weight": 1,
                "subject": "Shipped: {{ payload.order_id }}",
                "body": "<p>Order {{ payload.order_id }} is on its way.</p>",
            }
        ],
        "created_at": "2025-05-01T09:30:00Z",
        "updated_at": "2025-05-01T09:30:00Z",
    },
)


class TemplateListView(_ListView):
    ordering = ("key", "locale")

    @extend_schema(
        summary="List templates",
        tags=["templates"],
        parameters=[
            OpenApiParameter("key", OpenApiTypes.STR, description="Only this key (all locales)."),
            OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values),
            OpenApiParameter("locale", OpenApiTypes.STR),
        ],
        responses=TemplateOutSerializer(many=True),
        examples=[_TEMPLATE_RESPONSE],
    )
    def get(self, request):
        params = request.query_params
        queryset = template_list(
            key=params.get("key"), channel=params.get("channel"), locale=params.get("locale")
        )
        return self._page(queryset, TemplateOutSerializer)

    @extend_schema(
        summary="Create a template",
        description=(
            "Templates are sandboxed Jinja2 and may use `payload`, `subscriber` and `actor`. "
            "One that does not parse or names anything else is refused with 400. "
            "409 `template_exists` if the key already exists in this locale."
        ),
        tags=["templates"],
        request=TemplateInSerializer,
        responses={201: TemplateOutSerializer, 400: _INVALID, 409: _conflict("template_exists")},
        examples=[_TEMPLATE_REQUEST, _TEMPLATE_RESPONSE],
    )
    def post(self, request):
        template = template_create(**_valid(TemplateInSerializer, request))
        return Response(TemplateOutSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateDetailView(GenericAPIView):
    @extend_schema(
        summary="Get a template in one locale",
        tags=["templates"],
        parameters=[_LOCALE_PARAM],
        responses={200: TemplateOutSerializer, 404: _NOT_FOUND},
        examples=[_TEMPLATE_RESPONSE],
    )
    def get(self, request, key: str):
        locale = request.query_params.get("locale") or settings.CLARION_DEFAULT_LOCALE
        template = template_get(key=key, locale=locale)
        if template is None:
            others = [t.locale for t in templates_for_key(key=key)]
            hint = f"; it exists in: {', '.join(others)}" if others else ""
            raise _not_found(f"No template '{key}' in locale '{locale}'{hint}.")
        return Response(TemplateOutSerializer(template).data)

    @extend_schema(
        summary="Create or replace a template in one locale",
        description=(
            "Replaces the template and its whole set of variants. The locale comes from the "
            "body, `?locale=` or the default. Every locale of a key has the same channel."
        ),
        tags=["templates"],
        parameters=[_LOCALE_PARAM],
        request=TemplateReplaceSerializer,
        responses={
            200: TemplateOutSerializer,
            201: TemplateOutSerializer,
            400: _INVALID,
            409: _conflict("template_in_use"),
        },
        examples=[_TEMPLATE_REQUEST, _TEMPLATE_RESPONSE],
    )
    def put(self, request, key: str):
        data = _valid(
            TemplateReplaceSerializer,
            request,
            context={"key": key, "locale": request.query_params.get("locale")},
        )
        template, created = template_upsert(**data)
        return Response(
            TemplateOutSerializer(template).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Delete a template",
        description=(
            "Deletes one locale (`?locale=`) or every locale of the key. 409 `template_in_use` "
            "if that would leave a workflow step without its template."
        ),
        tags=["templates"],
        parameters=[_DELETE_LOCALE_PARAM],
        request=None,
        responses={204: None, 404: _NOT_FOUND, 409: _conflict("template_in_use")},
    )
    def delete(self, request, key: str):
        template_delete(key=key, locale=request.query_params.get("locale") or None)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- workflows ---------------------------------------------------------------------------

_WORKFLOW_BODY = {
    "key": "order-shipped",
    "name": "Order shipped",
    "critical": False,
    "steps": [
        {"type": "send", "channel": "in_app", "template": "order-shipped-inbox"},
        {"type": "delay", "seconds": 3600},
        {
            "type": "send",
            "channel": "email",
            "template": "order-shipped",
            "condition": {"unread": 0},
        },
        {"type": "digest", "window_seconds": 600},
        {"type": "send", "channel": "sms", "template": "order-shipped-sms"},
    ],
}
_WORKFLOW_REQUEST = OpenApiExample(
    "Inbox, then email if unread", request_only=True, value=_WORKFLOW_BODY
)
_WORKFLOW_RESPONSE = OpenApiExample(
    "Inbox, then email if unread",
    response_only=True,
    value={
        **_WORKFLOW_BODY,
        "created_at": "2025-05-01T09:30:00Z",
        "updated_at": "2025-05-01T09:30:00Z",
    },
)


class WorkflowListView(_ListView):
    ordering = ("key",)

    @extend_schema(
        summary="List workflows",
        tags=["workflows"],
        responses=WorkflowOutSerializer(many=True),
        examples=[_WORKFLOW_RESPONSE],
    )
    def get(self, request):
        return self._page(workflow_list(), WorkflowOutSerializer)

    @extend_schema(
        summary="Create a workflow",
        description=(
            "Steps run in order: `send` (a template of the step's channel; optional condition "
            '`{"unread": i}` on an earlier in_app send step), `delay` (1 s to 30 days) and '
            "`digest` (window 1 s to 1 day). At least one send step. "
            "409 `workflow_exists` if the key is taken."
        ),
        tags=["workflows"],
        request=WorkflowInSerializer,
        responses={201: WorkflowOutSerializer, 400: _INVALID, 409: _conflict("workflow_exists")},
        examples=[_WORKFLOW_REQUEST, _WORKFLOW_RESPONSE],
    )
    def post(self, request):
        workflow = workflow_create(**_valid(WorkflowInSerializer, request))
        return Response(WorkflowOutSerializer(workflow).data, status=status.HTTP_201_CREATED)


class WorkflowDetailView(GenericAPIView):
    def _get(self, key: str):
        workflow = workflow_get(key=key)
        if workflow is None:
            raise _not_found(f"No workflow '{key}'.")
        return workflow

    @extend_schema(
        summary="Get a workflow",
        tags=["workflows"],
        responses={200: WorkflowOutSerializer, 404: _NOT_FOUND},
        examples=[_WORKFLOW_RESPONSE],
    )
    def get(self, request, key: str):
        return Response(WorkflowOutSerializer(self._get(key)).data)

    @extend_schema(
        summary="Replace a workflow",
        description="Replaces the name, `critical` and the whole list of steps at once.",
        tags=["workflows"],
        request=WorkflowReplaceSerializer,
        responses={200: WorkflowOutSerializer, 400: _INVALID, 404: _NOT_FOUND},
        examples=[_WORKFLOW_REQUEST, _WORKFLOW_RESPONSE],
    )
    def put(self, request, key: str):
        workflow = self._get(key)
        data = _valid(WorkflowReplaceSerializer, request, context={"key": key})
        data.pop("key")
        workflow = workflow_replace(workflow=workflow, **data)
        return Response(WorkflowOutSerializer(workflow).data)

    @extend_schema(
        summary="Delete a workflow",
        description="409 `workflow_in_use` while a route points at it.",
        tags=["workflows"],
        request=None,
        responses={204: None, 404: _NOT_FOUND, 409: _conflict("workflow_in_use")},
    )
    def delete(self, request, key: str):
        workflow_delete(workflow=self._get(key))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- routes ------------------------------------------------------------------------------

_ROUTE_BODY = {
    "event": "order.shipped",
    "workflow": "order-shipped",
    "priority": "high",
    "active": True,
    "max_attempts": 5,
}
_ROUTE_REQUEST = OpenApiExample("Order shipped", request_only=True, value=_ROUTE_BODY)
_ROUTE_RESPONSE = OpenApiExample(
    "Order shipped",
    response_only=True,
    value={
        **_ROUTE_BODY,
        "created_at": "2025-05-01T09:30:00Z",
        "updated_at": "2025-05-01T09:30:00Z",
    },
)


class RouteListView(_ListView):
    ordering = ("event",)

    @extend_schema(
        summary="List routes",
        tags=["routes"],
        parameters=[
            OpenApiParameter("workflow", OpenApiTypes.STR, description="Only this workflow's."),
            OpenApiParameter("active", OpenApiTypes.BOOL),
        ],
        responses=RouteOutSerializer(many=True),
        examples=[_ROUTE_RESPONSE],
    )
    def get(self, request):
        active = request.query_params.get("active")
        queryset = route_list(
            workflow_key=request.query_params.get("workflow"),
            active=None if active is None else active.lower() in ("1", "true", "yes"),
        )
        return self._page(queryset, RouteOutSerializer)

    @extend_schema(
        summary="Route an event to a workflow",
        description="409 `route_exists` if the event is routed already.",
        tags=["routes"],
        request=RouteInSerializer,
        responses={201: RouteOutSerializer, 400: _INVALID, 409: _conflict("route_exists")},
        examples=[_ROUTE_REQUEST, _ROUTE_RESPONSE],
    )
    def post(self, request):
        data = _valid(RouteInSerializer, request)
        route = route_create(workflow_key=data.pop("workflow"), **data)
        return Response(RouteOutSerializer(route).data, status=status.HTTP_201_CREATED)


class RouteDetailView(GenericAPIView):
    def _get(self, event: str):
        route = route_get(event=event)
        if route is None:
            raise _not_found(f"No route for event '{event}'.")
        return route

    def _update(self, request, event: str, *, partial: bool) -> Response:
        route = self._get(event)
        data = _valid(RouteReplaceSerializer, request, partial=partial, context={"event": event})
        data.pop("event", None)
        route = route_update(route=route, workflow_key=data.pop("workflow", None), **data)
        return Response(RouteOutSerializer(route).data)

    @extend_schema(
        summary="Get a route",
        tags=["routes"],
        responses={200: RouteOutSerializer, 404: _NOT_FOUND},
        examples=[_ROUTE_RESPONSE],
    )
    def get(self, request, event: str):
        return Response(RouteOutSerializer(self._get(event)).data)

    @extend_schema(
        summary="Replace a route",
        description="Every field is set; omitted ones take their defaults.",
        tags=["routes"],
        request=RouteReplaceSerializer,
        responses={200: RouteOutSerializer, 400: _INVALID, 404: _NOT_FOUND},
        examples=[_ROUTE_REQUEST, _ROUTE_RESPONSE],
    )
    def put(self, request, event: str):
        return self._update(request, event, partial=False)

    @extend_schema(
        summary="Change some fields of a route",
        tags=["routes"],
        request=RouteReplaceSerializer,
        responses={200: RouteOutSerializer, 400: _INVALID, 404: _NOT_FOUND},
        examples=[
            OpenApiExample("Pause a route", request_only=True, value={"active": False}),
            _ROUTE_RESPONSE,
        ],
    )
    def patch(self, request, event: str):
        return self._update(request, event, partial=True)

    @extend_schema(
        summary="Delete a route",
        description="The event is no longer accepted (422 `unknown_event` on trigger).",
        tags=["routes"],
        request=None,
        responses={204: None, 404: _NOT_FOUND},
    )
    def delete(self, request, event: str):
        route_delete(route=self._get(event))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- integrations ------------------------------------------------------------------------

_INTEGRATION_REQUEST = OpenApiExample(
    "SMTP relay",
    request_only=True,
    value={
        "channel": "email",
        "provider": "smtp",
        "name": "Mail relay",
        "settings": {
            "host": "smtp.example.com",
            "port": 587,
            "use_tls": True,
            "from_email": "Acme <no-reply@acme.example>",
        },
        "credentials": {"username": "acme", "password": "s3cret"},
        "primary": True,
        "active": True,
    },
)
_INTEGRATION_RESPONSE = OpenApiExample(
    "SMTP relay",
    response_only=True,
    value={
        "id": 3,
        "channel": "email",
        "provider": "smtp",
        "name": "Mail relay",
        "settings": {
            "host": "smtp.example.com",
            "port": 587,
            "use_tls": True,
            "from_email": "Acme <no-reply@acme.example>",
        },
        "has_credentials": True,
        "primary": True,
        "active": True,
        "created_at": "2025-05-01T09:30:00Z",
        "updated_at": "2025-05-01T09:30:00Z",
    },
)


class IntegrationListView(_ListView):
    ordering = ("id",)

    @extend_schema(
        summary="List provider integrations",
        description="Credentials are never returned; `has_credentials` says whether some are set.",
        tags=["integrations"],
        parameters=[OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values)],
        responses=IntegrationOutSerializer(many=True),
        examples=[_INTEGRATION_RESPONSE],
    )
    def get(self, request):
        queryset = integration_list(channel=request.query_params.get("channel"))
        return self._page(queryset, IntegrationOutSerializer)

    @extend_schema(
        summary="Add a provider integration",
        description=(
            "The provider must exist for the channel and accept the settings and credentials "
            "(errors name `settings.<x>` / `credentials.<x>`). Credentials are write-only and "
            "stored encrypted. A primary integration makes the channel's others non-primary. "
            "in_app is built in and takes no integration."
        ),
        tags=["integrations"],
        request=IntegrationInSerializer,
        responses={201: IntegrationOutSerializer, 400: _INVALID},
        examples=[_INTEGRATION_REQUEST, _INTEGRATION_RESPONSE],
    )
    def post(self, request):
        integration = integration_create(**_valid(IntegrationInSerializer, request))
        return Response(IntegrationOutSerializer(integration).data, status=status.HTTP_201_CREATED)


class IntegrationDetailView(GenericAPIView):
    def _get(self, integration_id: int):
        integration = integration_get(integration_id=integration_id)
        if integration is None:
            raise _not_found(f"No integration {integration_id}.")
        return integration

    def _update(self, request, integration_id: int, *, partial: bool) -> Response:
        integration = self._get(integration_id)
        data = _valid(IntegrationReplaceSerializer, request, partial=partial)
        integration = integration_update(integration=integration, **data)
        return Response(IntegrationOutSerializer(integration).data)

    @extend_schema(
        summary="Get a provider integration",
        tags=["integrations"],
        responses={200: IntegrationOutSerializer, 404: _NOT_FOUND},
        examples=[_INTEGRATION_RESPONSE],
    )
    def get(self, request, integration_id: int):
        return Response(IntegrationOutSerializer(self._get(integration_id)).data)

    @extend_schema(
        summary="Replace a provider integration",
        description="Without `credentials` the stored ones are kept.",
        tags=["integrations"],
        request=IntegrationReplaceSerializer,
        responses={200: IntegrationOutSerializer, 400: _INVALID, 404: _NOT_FOUND},
        examples=[_INTEGRATION_REQUEST, _INTEGRATION_RESPONSE],
    )
    def put(self, request, integration_id: int):
        return self._update(request, integration_id, partial=False)

    @extend_schema(
        summary="Change some fields of a provider integration",
        description=(
            "Top-level fields given replace the stored ones (`settings` as a whole); without "
            "`credentials` the stored ones are kept. The result is validated as a whole."
        ),
        tags=["integrations"],
        request=IntegrationReplaceSerializer,
        responses={200: IntegrationOutSerializer, 400: _INVALID, 404: _NOT_FOUND},
        examples=[
            OpenApiExample("Make it the fallback", request_only=True, value={"primary": False}),
            _INTEGRATION_RESPONSE,
        ],
    )
    def patch(self, request, integration_id: int):
        return self._update(request, integration_id, partial=True)

    @extend_schema(
        summary="Delete a provider integration",
        tags=["integrations"],
        request=None,
        responses={204: None, 404: _NOT_FOUND},
    )
    def delete(self, request, integration_id: int):
        integration_delete(integration=self._get(integration_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
