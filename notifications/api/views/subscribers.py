"""Subscribers API: upsert (one and in bulk), read, update, GDPR erase, credentials, preferences."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.api.serializers.subscribers import (
    CREDENTIALS_SERIALIZERS,
    ApiErrorSerializer,
    CredentialsOutputSerializer,
    FcmCredentialsSerializer,
    PreferencesSerializer,
    SubscriberBulkInputSerializer,
    SubscriberBulkOutputSerializer,
    SubscriberFieldsSerializer,
    SubscriberInputSerializer,
    SubscriberOutputSerializer,
    WebhookCredentialsSerializer,
    WebPushCredentialsSerializer,
)
from notifications.models import Subscriber
from notifications.selectors.subscribers import (
    subscriber_get,
    subscriber_list,
    subscriber_preferences,
)
from notifications.services.ids import SUBSCRIBER_ID_HELP, id_normalize
from notifications.services.subscribers import (
    subscriber_erase,
    subscriber_set_credentials,
    subscriber_set_preferences,
    subscriber_update,
    subscriber_upsert,
    subscribers_bulk_upsert,
)
from platform_core.errors import ApplicationError, ErrorKind

TAGS = ["subscribers"]
SUBSCRIBER_ID = OpenApiParameter(
    "subscriber_id",
    str,
    OpenApiParameter.PATH,
    description=(
        f"{SUBSCRIBER_ID_HELP} An id stored before this rule that holds a `/` is sent with "
        "its `/` as it is or percent-encoded (`%2F`)."
    ),
)
PROVIDER = OpenApiParameter(
    "provider",
    str,
    OpenApiParameter.PATH,
    enum=sorted(CREDENTIALS_SERIALIZERS),
    description="Whose credentials: fcm, webpush (push), slack, webhook (chat).",
)


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ApiErrorSerializer, description=description)


def page_example(*results: dict, name: str = "A page") -> OpenApiExample:
    """A list's response example: one page of `results`, the last one."""
    return OpenApiExample(name, value={"results": list(results), "next": None}, response_only=True)


NOT_FOUND = error_response("No subscriber with this id (in this tenant).")
INVALID = error_response("Validation error; `fields` names each invalid field.")

SUBSCRIBER_EXAMPLE = {
    "subscriber_id": "user-42",
    "email": "ada@example.com",
    "phone": "+14155550123",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "locale": "en-GB",
    "timezone": "Europe/London",
    "data": {"plan": "pro"},
    "quiet_hours": {"start": "22:00", "end": "07:00"},
}
SUBSCRIBER_OUTPUT_EXAMPLE = {
    **SUBSCRIBER_EXAMPLE,
    "created_at": "2025-01-31T09:30:00Z",
    "updated_at": "2025-01-31T09:30:00Z",
}


def _subscriber_or_404(subscriber_id: str) -> Subscriber:
    subscriber = subscriber_get(subscriber_id=id_normalize(subscriber_id))
    if subscriber is None:
        raise ApplicationError("not_found", "No subscriber with this id.", kind=ErrorKind.NOT_FOUND)
    return subscriber


class SubscriberListCreateView(generics.ListAPIView):
    serializer_class = SubscriberOutputSerializer
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        return subscriber_list(email=self.request.query_params.get("email") or None)

    @extend_schema(
        summary="List subscribers",
        description="Newest first, paginated by cursor (`next`).",
        tags=TAGS,
        parameters=[
            OpenApiParameter("email", str, description="Only subscribers with this email."),
            OpenApiParameter("limit", int, description="Page size (default 50, at most 500)."),
        ],
        responses={200: SubscriberOutputSerializer(many=True)},
        examples=[page_example(SUBSCRIBER_OUTPUT_EXAMPLE)],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create or update a subscriber",
        description=(
            "Upsert by `subscriber_id`: 201 when created, 200 when updated. Only the fields "
            "sent are changed. `phone` is stored as E.164; unknown fields are a 400."
        ),
        tags=TAGS,
        request=SubscriberInputSerializer,
        responses={
            201: SubscriberOutputSerializer,
            200: SubscriberOutputSerializer,
            400: INVALID,
        },
        examples=[
            OpenApiExample("Subscriber", value=SUBSCRIBER_EXAMPLE, request_only=True),
            OpenApiExample(
                "Created",
                value=SUBSCRIBER_OUTPUT_EXAMPLE,
                response_only=True,
                status_codes=["201", "200"],
            ),
            OpenApiExample(
                "Invalid phone",
                value={
                    "error": {
                        "code": "validation_error",
                        "message": "The request is not valid.",
                        "fields": {
                            "phone": [
                                "Enter a valid phone number in international format, "
                                "e.g. +14155550123."
                            ]
                        },
                    }
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request):
        serializer = SubscriberInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscriber, created = subscriber_upsert(**serializer.validated_data)
        return Response(
            SubscriberOutputSerializer(subscriber).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SubscriberBulkView(APIView):
    @extend_schema(
        summary="Create or update subscribers in bulk",
        description=(
            "Up to 1000 subscribers, all or nothing: one invalid item rejects the batch "
            "(fields named `subscribers.<index>.<field>`). More than 1000 → 413."
        ),
        tags=TAGS,
        request=SubscriberBulkInputSerializer,
        responses={
            200: SubscriberBulkOutputSerializer,
            400: INVALID,
            413: error_response("More than 1000 subscribers (`batch_too_large`)."),
        },
        examples=[
            OpenApiExample(
                "Two subscribers",
                value={
                    "subscribers": [
                        {"subscriber_id": "user-1", "email": "a@example.com"},
                        {"subscriber_id": "user-2", "phone": "+33612345678", "locale": "en-GB"},
                    ]
                },
                request_only=True,
            ),
            OpenApiExample("Counts", value={"created": 1, "updated": 1}, response_only=True),
        ],
    )
    def post(self, request):
        serializer = SubscriberBulkInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created, updated = subscribers_bulk_upsert(items=serializer.validated_data["subscribers"])
        return Response({"created": created, "updated": updated})


class SubscriberDetailView(APIView):
    @extend_schema(
        summary="Get a subscriber",
        tags=TAGS,
        parameters=[SUBSCRIBER_ID],
        responses={200: SubscriberOutputSerializer, 404: NOT_FOUND},
        examples=[
            OpenApiExample("Subscriber", value=SUBSCRIBER_OUTPUT_EXAMPLE, response_only=True)
        ],
    )
    def get(self, request, subscriber_id: str):
        subscriber = _subscriber_or_404(subscriber_id)
        return Response(SubscriberOutputSerializer(subscriber).data)

    @extend_schema(
        summary="Update a subscriber",
        description="Changes only the fields sent.",
        tags=TAGS,
        parameters=[SUBSCRIBER_ID],
        request=SubscriberFieldsSerializer,
        responses={200: SubscriberOutputSerializer, 400: INVALID, 404: NOT_FOUND},
        examples=[
            OpenApiExample("New name", value={"first_name": "Augusta"}, request_only=True),
            OpenApiExample(
                "Subscriber",
                value={**SUBSCRIBER_OUTPUT_EXAMPLE, "first_name": "Augusta"},
                response_only=True,
            ),
        ],
    )
    def patch(self, request, subscriber_id: str):
        subscriber = _subscriber_or_404(subscriber_id)
        serializer = SubscriberFieldsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscriber = subscriber_update(subscriber=subscriber, **serializer.validated_data)
        return Response(SubscriberOutputSerializer(subscriber).data)

    @extend_schema(
        summary="Erase a subscriber (GDPR)",
        description=(
            "Deletes the subscriber, its personal data, topic memberships and in-app inbox. "
            "Its deliveries stay for statistics, no longer linked to anyone."
        ),
        tags=TAGS,
        parameters=[SUBSCRIBER_ID],
        request=None,
        responses={204: None, 404: NOT_FOUND},
    )
    def delete(self, request, subscriber_id: str):
        subscriber = _subscriber_or_404(subscriber_id)
        subscriber_erase(subscriber=subscriber)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriberCredentialsView(APIView):
    @extend_schema(
        summary="Set a subscriber's channel credentials",
        description=(
            "Replaces the subscriber's credentials for one provider: `fcm` "
            '`{"device_tokens": [...]}`, `webpush` `{"subscriptions": [PushSubscription]}`, '
            '`slack` and `webhook` `{"webhook_url": "https://..."}`.'
        ),
        tags=TAGS,
        parameters=[SUBSCRIBER_ID, PROVIDER],
        request=PolymorphicProxySerializer(
            component_name="SubscriberCredentials",
            serializers=[
                FcmCredentialsSerializer,
                WebPushCredentialsSerializer,
                WebhookCredentialsSerializer,
            ],
            resource_type_field_name=None,
        ),
        responses={200: CredentialsOutputSerializer, 400: INVALID, 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "FCM device tokens", value={"device_tokens": ["fcm-token-1"]}, request_only=True
            ),
            OpenApiExample(
                "Slack webhook",
                value={"webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX"},
                request_only=True,
            ),
            OpenApiExample(
                "Stored",
                value={"provider": "fcm", "credentials": {"device_tokens": ["fcm-token-1"]}},
                response_only=True,
            ),
        ],
    )
    def put(self, request, subscriber_id: str, provider: str):
        subscriber = _subscriber_or_404(subscriber_id)
        serializer_class = CREDENTIALS_SERIALIZERS.get(provider)
        if serializer_class is None:
            raise serializers.ValidationError(
                {
                    "provider": [
                        f"Unknown provider; use one of {', '.join(CREDENTIALS_SERIALIZERS)}."
                    ]
                }
            )
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscriber = subscriber_set_credentials(
            subscriber=subscriber, provider=provider, credentials=serializer.validated_data
        )
        return Response({"provider": provider, "credentials": subscriber.credentials[provider]})


PREFERENCES_EXAMPLE = {
    "channels": {"email": True, "sms": False},
    "workflows": {"weekly-digest": {"email": False}},
}


class SubscriberPreferencesView(APIView):
    @extend_schema(
        summary="Get a subscriber's preferences",
        tags=TAGS,
        parameters=[SUBSCRIBER_ID],
        responses={200: PreferencesSerializer, 404: NOT_FOUND},
        examples=[OpenApiExample("Preferences", value=PREFERENCES_EXAMPLE, response_only=True)],
    )
    def get(self, request, subscriber_id: str):
        subscriber = _subscriber_or_404(subscriber_id)
        return Response(subscriber_preferences(subscriber=subscriber))

    @extend_schema(
        summary="Replace a subscriber's preferences",
        description=(
            "`channels` turns channels on or off for every workflow; `workflows` overrides "
            "them per workflow key. Channels: email, sms, push, chat, in_app. A section left "
            "out is emptied."
        ),
        tags=TAGS,
        parameters=[SUBSCRIBER_ID],
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer, 400: INVALID, 404: NOT_FOUND},
        examples=[
            OpenApiExample("Preferences", value=PREFERENCES_EXAMPLE, request_only=True),
            OpenApiExample("Stored", value=PREFERENCES_EXAMPLE, response_only=True),
        ],
    )
    def put(self, request, subscriber_id: str):
        subscriber = _subscriber_or_404(subscriber_id)
        serializer = PreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscriber = subscriber_set_preferences(subscriber=subscriber, **serializer.validated_data)
        return Response(subscriber_preferences(subscriber=subscriber))
