"""Delivery feedback: provider webhooks, click and open tracking, suppressions."""

from __future__ import annotations

import base64

from django.http import HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.api.serializers.provider_feedback import (
    SuppressionFilterSerializer,
    SuppressionSerializer,
)
from notifications.api.views.subscribers import page_example
from notifications.selectors.deliveries import suppression_list
from notifications.services.provider_feedback import (
    integration_webhook_receive,
    suppression_delete,
    tracking_click,
    tracking_open,
)
from platform_core.api.errors import application_error_response
from platform_core.errors import ApplicationError

ERROR = OpenApiResponse(description="Error envelope `{error: {code, message, fields?}}`.")
# SNS (Amazon SES) sends basic auth only after a challenge.
WEBHOOK_CHALLENGE = 'Basic realm="Clarion provider webhooks"'


class _AnyAccept(BaseContentNegotiation):
    """Providers send whatever `Accept` they like; the answer is JSON regardless."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class IntegrationWebhookView(APIView):
    """Provider callbacks: no API key; the provider's own signature authenticates them."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    content_negotiation_class = _AnyAccept

    @extend_schema(
        summary="Receive a provider's delivery events",
        description=(
            "Paste `webhook_url` from the integration into the provider's console. No API "
            "key: django-anymail's checks for the ESP (Mailgun signing key, SendGrid signed "
            "event webhook, Resend/Svix signature, SNS message signature for Amazon SES, "
            "HTTP basic auth `webhook_secret` for every ESP) or `X-Twilio-Signature` with the "
            "integration's auth token. A bad or missing signature → 401 `invalid_signature` "
            "and nothing changes; events for unknown message ids are ignored (200). The body "
            "is the provider's own format, at most API_MAX_BODY_BYTES."
        ),
        tags=["integrations"],
        auth=[],
        request={
            "application/json": {"type": "object", "additionalProperties": True},
            "application/x-www-form-urlencoded": {
                "type": "object",
                "additionalProperties": True,
            },
        },
        responses={
            200: inline_serializer(
                "WebhookResult",
                {
                    "received": serializers.IntegerField(),
                    "matched": serializers.IntegerField(),
                    "recorded": serializers.IntegerField(),
                    "suppressed": serializers.IntegerField(),
                },
            ),
            400: ERROR,
            401: ERROR,
            404: ERROR,
            413: ERROR,
        },
        examples=[
            OpenApiExample(
                "Twilio status callback",
                request_only=True,
                media_type="application/x-www-form-urlencoded",
                value={
                    "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
                    "MessageStatus": "delivered",
                    "AccountSid": "AC123",
                    "To": "+14155550100",
                },
            ),
            OpenApiExample(
                "Postmark delivery",
                request_only=True,
                media_type="application/json",
                value={
                    "RecordType": "Delivery",
                    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
                    "Recipient": "ada@example.com",
                    "DeliveredAt": "2026-11-22T10:00:05Z",
                },
            ),
            OpenApiExample(
                "Applied",
                response_only=True,
                value={"received": 1, "matched": 1, "recorded": 1, "suppressed": 0},
            ),
        ],
    )
    def post(self, request, integration_id: int):
        result = integration_webhook_receive(
            integration_id=integration_id,
            request=request._request,
            url=request.build_absolute_uri(),
        )
        return Response(
            {
                "received": result.received,
                "matched": result.matched,
                "recorded": result.recorded,
                "suppressed": result.suppressed,
            }
        )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = WEBHOOK_CHALLENGE
        return response


# --- tracking ------------------------------------------------------------------------------

# A transparent 1×1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
@require_safe
def tracked_link(request, token: str):
    """GET /t/c/<token>: 302 to the link's original URL, the delivery `clicked`; 404 if the
    token is forged or altered (never a redirect then)."""
    try:
        url = tracking_click(token=token)
    except ApplicationError as exc:
        return application_error_response(exc)
    response = HttpResponseRedirect(url)
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_safe
def tracked_open(request, token: str):
    """GET /t/o/<token>.gif: a transparent pixel, the delivery `opened`; 404 if forged."""
    try:
        tracking_open(token=token)
    except ApplicationError as exc:
        return application_error_response(exc)
    return HttpResponse(PIXEL, content_type="image/gif")


# --- suppressions --------------------------------------------------------------------------


SUPPRESSION_EXAMPLE = {
    "id": 12,
    "channel": "email",
    "address": "ada@example.com",
    "reason": "hard_bounce",
    "delivery_id": 4711,
    "created_at": "2026-11-22T10:00:09Z",
}


class SuppressionListView(ListAPIView):
    serializer_class = SuppressionSerializer
    ordering = "-id"

    def get_queryset(self):
        serializer = SuppressionFilterSerializer(data=self.request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return suppression_list(channel=data.get("channel"), address=data.get("address"))

    @extend_schema(
        summary="List suppressed addresses",
        description=(
            "Addresses a hard bounce or a spam complaint suppressed: a send to one is "
            "`skipped`, its `last_error` naming the reason. `address` is matched exactly "
            "(email case-insensitively)."
        ),
        tags=["suppressions"],
        parameters=[
            OpenApiParameter("channel", str, enum=["email", "sms"]),
            OpenApiParameter("address", str),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int),
        ],
        examples=[page_example(SUPPRESSION_EXAMPLE)],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SuppressionDetailView(APIView):
    @extend_schema(
        summary="Lift a suppression",
        description="The address may be sent to again.",
        tags=["suppressions"],
        responses={204: None, 404: ERROR},
    )
    def delete(self, request, suppression_id: int):
        suppression_delete(suppression_id=suppression_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
