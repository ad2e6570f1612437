"""Configuration API: workflows and their steps."""

from __future__ import annotations

from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from notifications.api.serializers.config import (
    WorkflowInSerializer,
    WorkflowOutSerializer,
    WorkflowReplaceSerializer,
)
from notifications.api.views.config.common import TIMESTAMPS, Docs, ListView, found, validated
from notifications.selectors.config import workflow_get, workflow_list
from notifications.services.config import workflow_create, workflow_delete, workflow_replace

_WORKFLOW_BODY = {
    "key": "order-shipped",
    "name": "Order shipped",
    "critical": False,
    "send_window": {"start": "08:00", "end": "21:00"},
    "track_clicks": True,
    "track_opens": False,
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
_WORKFLOWS = Docs(
    "workflows",
    WorkflowOutSerializer,
    "Inbox, then email if unread",
    request=_WORKFLOW_BODY,
    response={**_WORKFLOW_BODY, **TIMESTAMPS},
)


class WorkflowListView(ListView):
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
        workflow = workflow_create(**validated(WorkflowInSerializer, request))
        return Response(WorkflowOutSerializer(workflow).data, status=status.HTTP_201_CREATED)


class WorkflowDetailView(GenericAPIView):
    def _get(self, key: str):
        return found(workflow_get(key=key), f"No workflow '{key}'.")

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
        data = validated(WorkflowReplaceSerializer, request, context={"key": key})
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
