"""Configuration API: the audit log of configuration changes."""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from notifications.api.serializers.audit import AuditEntrySerializer, AuditLogQuerySerializer
from notifications.api.views.config.common import INVALID, ListView
from notifications.models.audit import AUDIT_RESOURCE_NAMES
from notifications.selectors.audit import audit_entries
from platform_core.errors import ApplicationError, ErrorKind

_EXAMPLE = {
    "results": [
        {
            "id": "route:3:1764650000.123456:1f0c2b7e-8d0a-4d7f-9a55-0c7e4ab6f001",
            "resource": "route",
            "key": "order.shipped",
            "action": "update",
            "actor": "api_key:ck_3f9a1c",
            "at": "2026-12-02T04:33:20.123456Z",
            "before": {
                "event": "order.shipped",
                "workflow": "orders",
                "priority": "normal",
                "active": True,
                "max_attempts": 5,
            },
            "after": {
                "event": "order.shipped",
                "workflow": "orders",
                "priority": "high",
                "active": True,
                "max_attempts": 5,
            },
        }
    ],
    "next": None,
}


def _invalid_cursor() -> ApplicationError:
    return ApplicationError(
        "invalid_cursor",
        "The cursor is not valid: use the `next` link of a previous page as it is.",
        kind=ErrorKind.VALIDATION,
        fields={"cursor": ["Invalid cursor."]},
    )


class AuditLogView(GenericAPIView):
    # The page size rule (`limit`) of every other list.
    pagination_class = ListView.pagination_class

    @extend_schema(
        summary="Audit log of configuration changes",
        description=(
            "Every change of a route, workflow (with its steps), template (with its variants), "
            "integration or throttle made through the API, the admin or `import_config`, newest "
            "first: who made it, when, and the resource before and after. Credentials and "
            "secrets are never recorded. `key` is a route's event, a template's or workflow's "
            "key, a throttle's key or an integration's id; `since` an ISO-8601 time. Resources "
            f"with no history kept yet return an empty list. `resource` is one of "
            f"{', '.join(AUDIT_RESOURCE_NAMES)}."
        ),
        tags=["audit"],
        parameters=[
            OpenApiParameter(
                "resource", OpenApiTypes.STR, required=True, enum=list(AUDIT_RESOURCE_NAMES)
            ),
            OpenApiParameter("key", OpenApiTypes.STR, description="Only this resource."),
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="Only changes at or after this time."
            ),
            OpenApiParameter("limit", OpenApiTypes.INT, description="Page size, 1 to 500."),
            OpenApiParameter(
                "cursor", OpenApiTypes.STR, description="The opaque cursor of a `next` link."
            ),
        ],
        responses={200: AuditEntrySerializer(many=True), 400: INVALID},
        examples=[OpenApiExample("A route's priority changed", value=_EXAMPLE)],
    )
    def get(self, request):
        query = AuditLogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = self.pagination_class().get_page_size(request)
        entries = audit_entries(
            resource=query.validated_data["resource"],
            key=query.validated_data.get("key"),
            since=query.validated_data.get("since"),
        )
        start = 0
        if (cursor := request.query_params.get("cursor")) is not None:
            try:
                after_id = b64decode(cursor.encode("ascii"), validate=True).decode()
            except (UnicodeError, binascii.Error):
                raise _invalid_cursor() from None
            ids = [entry.id for entry in entries]
            if after_id not in ids:
                raise _invalid_cursor()
            start = ids.index(after_id) + 1
        page = entries[start : start + limit]
        next_link = None
        if start + limit < len(entries):
            params = request.query_params.copy()
            params["cursor"] = b64encode(page[-1].id.encode()).decode("ascii")
            next_link = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": AuditEntrySerializer(page, many=True).data, "next": next_link})
