"""Configuration API: provider integrations (credentials are write-only)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from notifications.api.serializers.config import (
    IntegrationInSerializer,
    IntegrationOutSerializer,
    IntegrationReplaceSerializer,
)
from notifications.api.views.config.common import TIMESTAMPS, Docs, ListView, found, validated
from notifications.models import Channel
from notifications.selectors.config import integration_get, integration_list
from notifications.services.config import integration_create, integration_delete, integration_update

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
_INTEGRATIONS = Docs(
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
        "webhook_url": None,
        **_INTEGRATION_FLAGS,
        **TIMESTAMPS,
    },
)


class IntegrationListView(ListView):
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
        integration = integration_create(**validated(IntegrationInSerializer, request))
        return Response(IntegrationOutSerializer(integration).data, status=status.HTTP_201_CREATED)


class IntegrationDetailView(GenericAPIView):
    def _get(self, integration_id: int):
        return found(
            integration_get(integration_id=integration_id), f"No integration {integration_id}."
        )

    def _update(self, request, integration_id: int, *, partial: bool) -> Response:
        integration = self._get(integration_id)
        data = validated(IntegrationReplaceSerializer, request, partial=partial)
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
