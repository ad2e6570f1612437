"""Delivery feedback API: outbound webhook endpoints and their attempts, A/B results of a
template, delivery analytics."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.api.serializers.feedback import (
    AbResultsSerializer,
    AnalyticsSerializer,
    WebhookAttemptSerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointInSerializer,
    WebhookEndpointOutSerializer,
    WebhookEndpointPatchSerializer,
)
from notifications.api.views.config.common import (
    INVALID,
    NOT_FOUND,
    TIMESTAMPS,
    Docs,
    ListView,
    conflict_response,
    found,
    validated,
)
from notifications.selectors.feedback import (
    analytics_query_parse,
    delivery_analytics,
    template_ab_results,
    template_for_results,
    webhook_attempt_list,
    webhook_endpoint_get,
    webhook_endpoint_list,
)
from notifications.services.feedback import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)

_ENDPOINT_BODY = {
    "url": "https://hooks.acme.example/clarion",
    "events": ["delivery.delivered", "delivery.bounced", "delivery.dead"],
    "active": True,
}
_ENDPOINT_OUT = {
    "id": 7,
    **_ENDPOINT_BODY,
    "failing_since": None,
    "disabled_reason": "",
    **TIMESTAMPS,
}
_ENDPOINTS = Docs(
    "webhook endpoints",
    WebhookEndpointOutSerializer,
    "Deliveries that arrived or failed",
    request=_ENDPOINT_BODY,
    response=_ENDPOINT_OUT,
)
_SEMANTICS = (
    "Each delivery event (a move into the named status) is stored once per endpoint and POSTed "
    "as JSON signed per Standard Webhooks (`webhook-id`, stable across retries; "
    "`webhook-timestamp`; `webhook-signature`), retried with exponential backoff from the "
    "database on a non-2xx or a timeout. An endpoint whose attempts fail continuously for "
    "WEBHOOK_DISABLE_AFTER_SECONDS is turned off (`active: false`, `disabled_reason`)."
)


def _endpoint(endpoint_id: int):
    return found(
        webhook_endpoint_get(endpoint_id=endpoint_id), f"No webhook endpoint {endpoint_id}."
    )


class WebhookEndpointListView(ListView):
    ordering = ("id",)

    @_ENDPOINTS.list("List webhook endpoints")
    def get(self, request):
        return self._page(webhook_endpoint_list(), WebhookEndpointOutSerializer)

    @extend_schema(
        summary="Add a webhook endpoint",
        description=f"The signing `secret` is returned in this response only. {_SEMANTICS}",
        tags=["webhook endpoints"],
        request=WebhookEndpointInSerializer,
        responses={
            201: WebhookEndpointCreatedSerializer,
            400: INVALID,
            409: conflict_response("too_many_endpoints"),
        },
        examples=[
            OpenApiExample("An endpoint", request_only=True, value=_ENDPOINT_BODY),
            OpenApiExample(
                "An endpoint",
                response_only=True,
                value={**_ENDPOINT_OUT, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
            ),
        ],
    )
    def post(self, request):
        endpoint, secret = webhook_endpoint_create(
            **validated(WebhookEndpointInSerializer, request)
        )
        body = {**WebhookEndpointOutSerializer(endpoint).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailView(GenericAPIView):
    @_ENDPOINTS.get("Get a webhook endpoint")
    def get(self, request, endpoint_id: int):
        return Response(WebhookEndpointOutSerializer(_endpoint(endpoint_id)).data)

    @_ENDPOINTS.change(
        "Change a webhook endpoint",
        description="Any of `url`, `events`, `active`. Turning an endpoint on again clears its "
        "failure record; its waiting events are then posted.",
        request=WebhookEndpointPatchSerializer,
        example=OpenApiExample("Turn it on again", request_only=True, value={"active": True}),
    )
    def patch(self, request, endpoint_id: int):
        endpoint = _endpoint(endpoint_id)
        data = validated(WebhookEndpointPatchSerializer, request)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **data)
        return Response(WebhookEndpointOutSerializer(endpoint).data)

    @_ENDPOINTS.delete("Delete a webhook endpoint", description="With its events and attempts.")
    def delete(self, request, endpoint_id: int):
        webhook_endpoint_delete(endpoint=_endpoint(endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookAttemptListView(ListView):
    ordering = ("-id",)

    @extend_schema(
        summary="List an endpoint's attempts",
        description="Every POST of every event, newest first.",
        tags=["webhook endpoints"],
        responses={200: WebhookAttemptSerializer(many=True), 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "A retried event",
                response_only=True,
                value={
                    "results": [
                        {
                            "id": 12,
                            "webhook_id": "msg_4711",
                            "event_type": "delivery.sent",
                            "delivery_id": 981,
                            "attempt": 2,
                            "succeeded": True,
                            "response_code": 200,
                            "error": "",
                            "duration_ms": 41,
                            "created_at": "2025-05-01T09:31:02Z",
                        },
                        {
                            "id": 11,
                            "webhook_id": "msg_4711",
                            "event_type": "delivery.sent",
                            "delivery_id": 981,
                            "attempt": 1,
                            "succeeded": False,
                            "response_code": 503,
                            "error": "HTTP 503",
                            "duration_ms": 37,
                            "created_at": "2025-05-01T09:30:31Z",
                        },
                    ],
                    "next": None,
                },
            )
        ],
    )
    def get(self, request, endpoint_id: int):
        endpoint = _endpoint(endpoint_id)
        return self._page(webhook_attempt_list(endpoint=endpoint), WebhookAttemptSerializer)


class TemplateResultsView(APIView):
    @extend_schema(
        summary="A/B results of a template",
        description="Per variant (the base template is `control`): sent (reached sent or later), "
        "delivered, opened (opened or clicked), clicked, click_rate with its 95% Wilson "
        "interval, open_rate, and the two-sided p-value of a two-proportion z-test of its "
        "click rate against control's. `winner` is the variant whose click rate beats "
        "control's at p < 0.05, else null. Counts cover every delivery of the key with that "
        "variant name; a variant named `control` counts as the control (give it the base's "
        "content and a weight to split traffic with the base).",
        tags=["templates"],
        parameters=[
            OpenApiParameter(
                "locale",
                OpenApiTypes.STR,
                description="Whose variants to list; default: the default locale's template.",
            )
        ],
        responses={200: AbResultsSerializer, 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "B wins",
                response_only=True,
                value={
                    "variants": [
                        {
                            "name": "control",
                            "sent": 1000,
                            "delivered": 990,
                            "opened": 400,
                            "clicked": 50,
                            "click_rate": 0.05,
                            "click_rate_ci": [0.03813, 0.065314],
                            "open_rate": 0.4,
                            "p_value_vs_control": None,
                        },
                        {
                            "name": "b",
                            "sent": 1000,
                            "delivered": 992,
                            "opened": 450,
                            "clicked": 90,
                            "click_rate": 0.09,
                            "click_rate_ci": [0.073796, 0.109342],
                            "open_rate": 0.45,
                            "p_value_vs_control": 0.000456,
                        },
                    ],
                    "winner": "b",
                },
            )
        ],
    )
    def get(self, request, key: str):
        locale = request.query_params.get("locale") or None
        template = template_for_results(key=key, locale=locale)
        where = f" in locale '{locale}'" if locale else ""
        found(template, f"No template '{key}'{where}.")
        return Response(template_ab_results(template=template))


class DeliveryAnalyticsView(APIView):
    @extend_schema(
        summary="Delivery counts over time",
        description="Deliveries created in [`from`, `to`) counted per group. `group_by` is a "
        "comma-separated list of `day` or `hour` (UTC), `channel`, `event`, `status` (default "
        "`day`). `from` defaults to 7 days before `to`, `to` to now; the range spans at most "
        "366 days (31 with `hour`).",
        tags=["analytics"],
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Start (inclusive)."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="End (exclusive)."),
            OpenApiParameter(
                "group_by", OpenApiTypes.STR, description="e.g. `day,channel,status`."
            ),
        ],
        responses={200: AnalyticsSerializer, 400: INVALID},
        examples=[
            OpenApiExample(
                "By day, channel and status",
                response_only=True,
                value={
                    "rows": [
                        {
                            "day": "2025-05-01",
                            "channel": "email",
                            "status": "delivered",
                            "count": 812,
                        },
                        {"day": "2025-05-01", "channel": "email", "status": "bounced", "count": 9},
                        {"day": "2025-05-01", "channel": "sms", "status": "sent", "count": 120},
                    ]
                },
            )
        ],
    )
    def get(self, request):
        since, until, groups = analytics_query_parse(
            start=request.query_params.get("from"),
            end=request.query_params.get("to"),
            group_by=request.query_params.get("group_by"),
        )
        return Response({"rows": delivery_analytics(since=since, until=until, groups=groups)})
