"""Topics API: create, read, delete, and add or remove subscribers."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.api.serializers.topics import (
    TopicInputSerializer,
    TopicOutputSerializer,
    TopicSubscriberOutputSerializer,
    TopicSubscribersAddedSerializer,
    TopicSubscribersInputSerializer,
    TopicSubscribersRemovedSerializer,
)
from notifications.api.views.subscribers import INVALID, error_response, page_example
from notifications.models import Topic
from notifications.selectors.topics import (
    topic_get,
    topic_list,
    topic_subscriber_count,
    topic_subscribers_list,
)
from notifications.services.ids import TOPIC_KEY_HELP, id_normalize
from notifications.services.topics import (
    topic_add_subscribers,
    topic_create,
    topic_delete,
    topic_remove_subscribers,
)
from platform_core.errors import ApplicationError, ErrorKind

TAGS = ["topics"]
KEY = OpenApiParameter(
    "key", str, OpenApiParameter.PATH, description=f"The topic's key: {TOPIC_KEY_HELP}"
)
NOT_FOUND = error_response("No topic with this key (in this tenant).")
TOO_LARGE = error_response("More than 1000 subscriber ids (`batch_too_large`).")
TOPIC_EXAMPLE = {
    "key": "tenant-42",
    "name": "Everyone at tenant 42",
    "subscriber_count": 3,
    "created_at": "2025-01-31T09:30:00Z",
    "updated_at": "2025-01-31T09:30:00Z",
}
MEMBERS_EXAMPLE = {"subscribers": ["user-1", "user-2", "user-3"]}


def _topic_or_404(key: str) -> Topic:
    topic = topic_get(key=id_normalize(key))
    if topic is None:
        raise ApplicationError("not_found", "No topic with this key.", kind=ErrorKind.NOT_FOUND)
    return topic


def _subscriber_ids(request) -> list[str]:
    serializer = TopicSubscribersInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["subscribers"]


def _members_schema(summary: str, *, description: str, output, example: OpenApiExample):
    """Adding or removing members: the same body, the same errors."""
    return extend_schema(
        summary=summary,
        description=description,
        tags=TAGS,
        parameters=[KEY],
        request=TopicSubscribersInputSerializer,
        responses={200: output, 400: INVALID, 404: NOT_FOUND, 413: TOO_LARGE},
        examples=[
            OpenApiExample("Subscriber ids", value=MEMBERS_EXAMPLE, request_only=True),
            example,
        ],
    )


class TopicListCreateView(generics.ListAPIView):
    serializer_class = TopicOutputSerializer
    ordering = ("key",)

    def get_queryset(self):
        return topic_list()

    @extend_schema(
        summary="List topics",
        description="By key, paginated by cursor (`next`), each with its subscriber count.",
        tags=TAGS,
        parameters=[OpenApiParameter("limit", int, description="Page size.")],
        responses={200: TopicOutputSerializer(many=True)},
        examples=[page_example(TOPIC_EXAMPLE)],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a topic",
        tags=TAGS,
        request=TopicInputSerializer,
        responses={
            201: TopicOutputSerializer,
            400: INVALID,
            409: error_response("A topic with this key exists (`topic_exists`)."),
        },
        examples=[
            OpenApiExample(
                "Topic",
                value={"key": "tenant-42", "name": "Everyone at tenant 42"},
                request_only=True,
            ),
            OpenApiExample(
                "Created",
                value={**TOPIC_EXAMPLE, "subscriber_count": 0},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        serializer = TopicInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        topic = topic_create(**serializer.validated_data)
        topic.subscriber_count = 0
        return Response(TopicOutputSerializer(topic).data, status=status.HTTP_201_CREATED)


class TopicDetailView(APIView):
    @extend_schema(
        summary="Get a topic",
        tags=TAGS,
        parameters=[KEY],
        responses={200: TopicOutputSerializer, 404: NOT_FOUND},
        examples=[OpenApiExample("Topic", value=TOPIC_EXAMPLE, response_only=True)],
    )
    def get(self, request, key: str):
        topic = _topic_or_404(key)
        topic.subscriber_count = topic_subscriber_count(topic=topic)
        return Response(TopicOutputSerializer(topic).data)

    @extend_schema(
        summary="Delete a topic",
        description="Its memberships go with it; the subscribers stay.",
        tags=TAGS,
        parameters=[KEY],
        request=None,
        responses={204: None, 404: NOT_FOUND},
    )
    def delete(self, request, key: str):
        topic_delete(topic=_topic_or_404(key))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TopicSubscribersView(generics.ListAPIView):
    serializer_class = TopicSubscriberOutputSerializer
    # The (topic, subscriber) unique index: a keyset scan however large the topic.
    ordering = ("subscriber_id",)

    def get_queryset(self):
        return topic_subscribers_list(topic=_topic_or_404(self.kwargs["key"]))

    @extend_schema(
        summary="List a topic's subscribers",
        description="Paginated by cursor (`next`).",
        tags=TAGS,
        parameters=[KEY, OpenApiParameter("limit", int, description="Page size.")],
        responses={200: TopicSubscriberOutputSerializer(many=True), 404: NOT_FOUND},
        examples=[
            page_example({"subscriber_id": "user-1", "subscribed_at": "2025-01-31T09:30:00Z"})
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @_members_schema(
        "Add subscribers to a topic",
        description=(
            "Up to 1000 subscriber ids; unknown ids are created as bare subscribers. "
            "`added` counts only new memberships."
        ),
        output=TopicSubscribersAddedSerializer,
        example=OpenApiExample("Added", value={"added": 3}, response_only=True),
    )
    def post(self, request, key: str):
        topic = _topic_or_404(key)
        added = topic_add_subscribers(topic=topic, subscriber_ids=_subscriber_ids(request))
        return Response({"added": added})

    @_members_schema(
        "Remove subscribers from a topic",
        description="Up to 1000 subscriber ids; `removed` counts memberships actually removed.",
        output=TopicSubscribersRemovedSerializer,
        example=OpenApiExample("Removed", value={"removed": 2}, response_only=True),
    )
    def delete(self, request, key: str):
        topic = _topic_or_404(key)
        removed = topic_remove_subscribers(topic=topic, subscriber_ids=_subscriber_ids(request))
        return Response({"removed": removed})
