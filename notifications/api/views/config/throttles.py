"""Configuration API: throttles (at most `limit` deliveries per subscriber per window)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from notifications.api.serializers.throttles import (
    ThrottleInSerializer,
    ThrottleOutSerializer,
    ThrottleReplaceSerializer,
)
from notifications.api.views.config.common import TIMESTAMPS, Docs, ListView, found, validated
from notifications.models import Channel
from notifications.selectors.config import throttle_get, throttle_list
from notifications.services.config import throttle_create, throttle_delete, throttle_replace

_THROTTLE_BODY = {
    "key": "sms-3-per-hour",
    "limit": 3,
    "window_seconds": 3600,
    "channel": "sms",
    "workflow": None,
    "applies_to_critical": False,
}
_THROTTLES = Docs(
    "throttles",
    ThrottleOutSerializer,
    "Three SMS per hour",
    request=_THROTTLE_BODY,
    response={**_THROTTLE_BODY, **TIMESTAMPS},
)
_SEMANTICS = (
    "A delivery counts when it is about to be sent (not refunded if the provider then fails; "
    "a retry of the same delivery does not count again). One over the limit is `skipped`, its "
    "`last_error` naming the throttle. Critical deliveries pass unless `applies_to_critical`."
)


def _service_args(data: dict) -> dict:
    data["workflow_key"] = data.pop("workflow", None)
    return data


class ThrottleListView(ListView):
    ordering = ("key",)

    @_THROTTLES.list(
        "List throttles",
        parameters=[
            OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values),
            OpenApiParameter("workflow", OpenApiTypes.STR, description="Only this workflow's."),
        ],
    )
    def get(self, request):
        queryset = throttle_list(
            channel=request.query_params.get("channel"),
            workflow_key=request.query_params.get("workflow"),
        )
        return self._page(queryset, ThrottleOutSerializer)

    @_THROTTLES.create(
        "Add a throttle",
        description=f"409 `throttle_exists` if the key is taken. {_SEMANTICS}",
        request=ThrottleInSerializer,
        conflict="throttle_exists",
    )
    def post(self, request):
        throttle = throttle_create(**_service_args(validated(ThrottleInSerializer, request)))
        return Response(ThrottleOutSerializer(throttle).data, status=status.HTTP_201_CREATED)


class ThrottleDetailView(GenericAPIView):
    def _get(self, key: str):
        return found(throttle_get(key=key), f"No throttle '{key}'.")

    @_THROTTLES.get("Get a throttle")
    def get(self, request, key: str):
        return Response(ThrottleOutSerializer(self._get(key)).data)

    @_THROTTLES.change(
        "Replace a throttle",
        description="Every field is set; omitted ones take their defaults. Deliveries already "
        "counted stay counted.",
        request=ThrottleReplaceSerializer,
    )
    def put(self, request, key: str):
        throttle = self._get(key)
        data = validated(ThrottleReplaceSerializer, request, context={"key": key})
        throttle = throttle_replace(throttle=throttle, **_service_args(data))
        return Response(ThrottleOutSerializer(throttle).data)

    @_THROTTLES.delete("Delete a throttle", description="Its deliveries are no longer limited.")
    def delete(self, request, key: str):
        throttle_delete(throttle=self._get(key))
        return Response(status=status.HTTP_204_NO_CONTENT)
