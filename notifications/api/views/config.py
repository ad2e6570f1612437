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
from platform_core.api.pagination import CursorPagination
from platform_core.errors import ApplicationError, ErrorKind


def _not_found(message: str) -> ApplicationError:
    return ApplicationError("not_found", message, kind=ErrorKind.NOT_FOUND)


def _found(row, message: str):
    """`row`, or a 404 with `message` if there is none."""
    if row is None:
        raise _not_found(message)
    return row


def _valid(serializer_class, request, **kwargs) -> dict:
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
_TIMESTAMPS = {"created_at": "2025-05-01T09:30:00Z", "updated_at": "2025-05-01T09:30:00Z"}


def _conflict(code: str) -> OpenApiResponse:
    return OpenApiResponse(description=f"{_ENVELOPE}, code `{code}`.")


class _Docs:
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
        responses = {201: self.output, 400: _INVALID}
        if conflict:
            responses[409] = _conflict(conflict)
        examples = [self.request_example, self.response_example]
        return self._schema(summary, responses, examples, request=request, **kwargs)

    def get(self, summary: str, **kwargs):
        responses = {200: self.output, 404: _NOT_FOUND}
        return self._schema(summary, responses, [self.response_example], **kwargs)

    def change(self, summary: str, *, request, example: OpenApiExample | None = None, **kwargs):
        """PUT (the request example) or PATCH (its own `example`)."""
        responses = {200: self.output, 400: _INVALID, 404: _NOT_FOUND}
        examples = [example or self.request_example, self.response_example]
        return self._schema(summary, responses, examples, request=request, **kwargs)

    def delete(self, summary: str, *, conflict: str | None = None, **kwargs):
        responses = {204: None, 404: _NOT_FOUND}
        if conflict:
            responses[409] = _conflict(conflict)
        return extend_schema(
            summary=summary, tags=[self.tag], request=None, responses=responses, **kwargs
        )


# --- templates ---------------------------------------------------------------------------

_TEMPLATE_CONTENT = {
    "key": "order-shipped",
    "channel": "email",
    "locale": "en",
    "subject": "Your order {{ payload.order_id }} is on its way",
    "body": "<p>Hi {{ subscriber.first_name }}, order {{ payload.order_id }} has shipped.</p>",
}
_TEMPLATE_VARIANTS = [
    {
        "name": "short",
        "weight": 1,
        "subject": "Shipped: {{ payload.order_id }}",
        "body": "<p>Order {{ payload.order_id }} is on its way.</p>",
    }
]
_TEMPLATES = _Docs(
    "templates",
    TemplateOutSerializer,
    "Order shipped email",
    request={**_TEMPLATE_CONTENT, "variants": _TEMPLATE_VARIANTS},
    response={**_TEMPLATE_CONTENT, "cta_url": "", "variants": _TEMPLATE_VARIANTS, **_TIMESTAMPS},
)


class TemplateListView(_ListView):
    ordering = ("key", "locale")

    @_TEMPLATES.list(
        "List templates",
        parameters=[
            OpenApiParameter("key", OpenApiTypes.STR, description="Only this key (all locales)."),
            OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values),
            OpenApiParameter("locale", OpenApiTypes.STR),
        ],
    )
    def get(self, request):
        params = request.query_params
        queryset = template_list(
            key=params.get("key"), channel=params.get("channel"), locale=params.get("locale")
        )
        return self._page(queryset, TemplateOutSerializer)

    @_TEMPLATES.create(
        "Create a template",
        description=(
            "Templates are sandboxed Jinja2 and may use `payload`, `subscriber` and `actor`. "
            "One that does not parse or names anything else is refused with 400. "
            "409 `template_exists` if the key already exists in this locale."
        ),
        request=TemplateInSerializer,
        conflict="template_exists",
    )
    def post(self, request):
        template = template_create(**_valid(TemplateInSerializer, request))
        return Response(TemplateOutSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateDetailView(GenericAPIView):
    @_TEMPLATES.get("Get a template in one locale", parameters=[_LOCALE_PARAM])
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
        examples=[_TEMPLATES.request_example, _TEMPLATES.response_example],
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

    @_TEMPLATES.delete(
        "Delete a template",
        description=(
            "Deletes one locale (`?locale=`) or every locale of the key. 409 `template_in_use` "
            "if that would leave a workflow step without its template."
        ),
        parameters=[_DELETE_LOCALE_PARAM],
        conflict="template_in_use",
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
_WORKFLOWS = _Docs(
    "workflows",
    WorkflowOutSerializer,
    "Inbox, then email if unread",
    request=_WORKFLOW_BODY,
    response={**_WORKFLOW_BODY, **_TIMESTAMPS},
)


class WorkflowListView(_ListView):
    ordering = ("key",)

    @_WORKFLOWS.list("List workflows")
    def get(self, request):
        return self._page(workflow_list(), WorkflowOutSerializer)

    @_WORKFLOWS.create(
        "Create a workflow",
        description=(
            "Steps run in order: `send` (a template of the step's channel; optional condition "
            '`{"unread": i}` on an earlier in_app send step), `delay` (1 s to 30 days) and '
            "`digest` (window 1 s to 1 day). At least one send step. "
            "409 `workflow_exists` if the key is taken."
        ),
        request=WorkflowInSerializer,
        conflict="workflow_exists",
    )
    def post(self, request):
        workflow = workflow_create(**_valid(WorkflowInSerializer, request))
        return Response(WorkflowOutSerializer(workflow).data, status=status.HTTP_201_CREATED)


class WorkflowDetailView(GenericAPIView):
    def _get(self, key: str):
        return _found(workflow_get(key=key), f"No workflow '{key}'.")

    @_WORKFLOWS.get("Get a workflow")
    def get(self, request, key: str):
        return Response(WorkflowOutSerializer(self._get(key)).data)

    @_WORKFLOWS.change(
        "Replace a workflow",
        description="Replaces the name, `critical` and the whole list of steps at once.",
        request=WorkflowReplaceSerializer,
    )
    def put(self, request, key: str):
        workflow = self._get(key)
        data = _valid(WorkflowReplaceSerializer, request, context={"key": key})
        data.pop("key")
        workflow = workflow_replace(workflow=workflow, **data)
        return Response(WorkflowOutSerializer(workflow).data)

    @_WORKFLOWS.delete(
        "Delete a workflow",
        description="409 `workflow_in_use` while a route points at it.",
        conflict="workflow_in_use",
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
_ROUTES = _Docs(
    "routes",
    RouteOutSerializer,
    "Order shipped",
    request=_ROUTE_BODY,
    response={**_ROUTE_BODY, **_TIMESTAMPS},
)


class RouteListView(_ListView):
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
        description="409 `route_exists` if the event is routed already.",
        request=RouteInSerializer,
        conflict="route_exists",
    )
    def post(self, request):
        data = _valid(RouteInSerializer, request)
        route = route_create(workflow_key=data.pop("workflow"), **data)
        return Response(RouteOutSerializer(route).data, status=status.HTTP_201_CREATED)


class RouteDetailView(GenericAPIView):
    def _get(self, event: str):
        return _found(route_get(event=event), f"No route for event '{event}'.")

    def _update(self, request, event: str, *, partial: bool) -> Response:
        route = self._get(event)
        data = _valid(RouteReplaceSerializer, request, partial=partial, context={"event": event})
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


# --- integrations ------------------------------------------------------------------------

_INTEGRATION_ACCOUNT = {
    "channel": "email",
    "provider": "smtp",
    "name": "Mail relay",
    "settings": {
        "host": "smtp.example.com",
        "port": 587,
        "use_tls": True,
        "from_email": "Acme <no-reply@acme.example>",
    },
}
_INTEGRATION_FLAGS = {"primary": True, "active": True}
_INTEGRATIONS = _Docs(
    "integrations",
    IntegrationOutSerializer,
    "SMTP relay",
    request={
        **_INTEGRATION_ACCOUNT,
        "credentials": {"username": "acme", "password": "s3cret"},
        **_INTEGRATION_FLAGS,
    },
    response={
        "id": 3,
        **_INTEGRATION_ACCOUNT,
        "has_credentials": True,
        **_INTEGRATION_FLAGS,
        **_TIMESTAMPS,
    },
)


class IntegrationListView(_ListView):
    ordering = ("id",)

    @_INTEGRATIONS.list(
        "List provider integrations",
        description="Credentials are never returned; `has_credentials` says whether some are set.",
        parameters=[OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values)],
    )
    def get(self, request):
        queryset = integration_list(channel=request.query_params.get("channel"))
        return self._page(queryset, IntegrationOutSerializer)

    @_INTEGRATIONS.create(
        "Add a provider integration",
        description=(
            "The provider must exist for the channel and accept the settings and credentials "
            "(errors name `settings.<x>` / `credentials.<x>`). Credentials are write-only and "
            "stored encrypted. A primary integration makes the channel's others non-primary. "
            "in_app is built in and takes no integration."
        ),
        request=IntegrationInSerializer,
    )
    def post(self, request):
        integration = integration_create(**_valid(IntegrationInSerializer, request))
        return Response(IntegrationOutSerializer(integration).data, status=status.HTTP_201_CREATED)


class IntegrationDetailView(GenericAPIView):
    def _get(self, integration_id: int):
        return _found(
            integration_get(integration_id=integration_id), f"No integration {integration_id}."
        )

    def _update(self, request, integration_id: int, *, partial: bool) -> Response:
        integration = self._get(integration_id)
        data = _valid(IntegrationReplaceSerializer, request, partial=partial)
        integration = integration_update(integration=integration, **data)
        return Response(IntegrationOutSerializer(integration).data)

    @_INTEGRATIONS.get("Get a provider integration")
    def get(self, request, integration_id: int):
        return Response(IntegrationOutSerializer(self._get(integration_id)).data)

    @_INTEGRATIONS.change(
        "Replace a provider integration",
        description="Without `credentials` the stored ones are kept.",
        request=IntegrationReplaceSerializer,
    )
    def put(self, request, integration_id: int):
        return self._update(request, integration_id, partial=False)

    @_INTEGRATIONS.change(
        "Change some fields of a provider integration",
        description=(
            "Top-level fields given replace the stored ones (`settings` as a whole); without "
            "`credentials` the stored ones are kept. The result is validated as a whole."
        ),
        request=IntegrationReplaceSerializer,
        example=OpenApiExample("Make it the fallback", request_only=True, value={"primary": False}),
    )
    def patch(self, request, integration_id: int):
        return self._update(request, integration_id, partial=True)

    @_INTEGRATIONS.delete("Delete a provider integration")
    def delete(self, request, integration_id: int):
        integration_delete(integration=self._get(integration_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
