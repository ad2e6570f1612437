"""Configuration API: workflows and their steps."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from notifications.api.serializers.config import (
    RollbackInSerializer,
    RolloutInSerializer,
    WorkflowInSerializer,
    WorkflowOutSerializer,
    WorkflowReplaceSerializer,
    WorkflowVersionInSerializer,
    WorkflowVersionOutSerializer,
)
from notifications.api.views.config.common import (
    ENVELOPE,
    INVALID,
    TIMESTAMPS,
    Docs,
    ListView,
    conflict_response,
    found,
    validated,
)
from notifications.selectors.config import (
    workflow_get,
    workflow_list,
    workflow_version_get,
    workflow_versions,
)
from notifications.services.config import (
    workflow_create,
    workflow_delete,
    workflow_promote,
    workflow_replace,
    workflow_rollback,
    workflow_rollout,
    workflow_version_create,
)
from platform_core.errors import ApplicationError, ErrorKind

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
    response={**_WORKFLOW_BODY, **TIMESTAMPS, "version": 1, "rollout": None},
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
        description=(
            "Replaces the name, `critical` and the whole list of steps at once. A change of "
            "steps or flags is a new version, live at once (any rollout ends)."
        ),
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


_VERSION_BODY = {
    "critical": False,
    "send_window": None,
    "steps": [
        {"type": "send", "channel": "in_app", "template": "order-shipped-inbox"},
        {"type": "send", "channel": "email", "template": "order-shipped-v2"},
    ],
}
_VERSIONS = Docs(
    "workflows",
    WorkflowVersionOutSerializer,
    "A second version",
    request=_VERSION_BODY,
    response={
        "version": 2,
        "live": False,
        "rollout_percent": None,
        **_VERSION_BODY,
        "created_at": TIMESTAMPS["created_at"],
    },
)
_WORKFLOW_OUT = {**_WORKFLOW_BODY, **TIMESTAMPS, "version": 1, "rollout": None}
_VERSION_NOT_FOUND = OpenApiResponse(description=f"{ENVELOPE}, code `version_not_found`.")


def _workflow_action(
    summary: str, description: str, request, example: dict | None, responses: dict
):
    examples = [OpenApiExample("Workflow", response_only=True, value=_WORKFLOW_OUT)]
    if example is not None:
        examples.insert(0, OpenApiExample("Request", request_only=True, value=example))
    return extend_schema(
        summary=summary,
        description=description,
        tags=["workflows"],
        request=request,
        responses={200: WorkflowOutSerializer, 404: _VERSION_NOT_FOUND, **responses},
        examples=examples,
    )


def _workflow(key: str):
    return found(workflow_get(key=key), f"No workflow '{key}'.")


class WorkflowVersionListView(ListView):
    ordering = ("number",)

    @_VERSIONS.list("List a workflow's versions")
    def get(self, request, key: str):
        return self._page(workflow_versions(workflow=_workflow(key)), WorkflowVersionOutSerializer)

    @_VERSIONS.create(
        "Add a version without making it live",
        description=(
            "The same body as PUT; the version is stored, numbered, and runs nowhere until "
            "it is rolled out (`/rollout`) or made live (`/rollback`)."
        ),
        request=WorkflowVersionInSerializer,
    )
    def post(self, request, key: str):
        workflow = _workflow(key)
        data = validated(WorkflowVersionInSerializer, request, context={"key": key})
        version = workflow_version_create(
            workflow=workflow,
            steps=data["steps"],
            critical=data["critical"],
            send_window=data.get("send_window"),
        )
        version = workflow_version_get(workflow=workflow, number=version.number)
        return Response(WorkflowVersionOutSerializer(version).data, status=status.HTTP_201_CREATED)


class WorkflowVersionDetailView(GenericAPIView):
    @_VERSIONS.get("Get one version of a workflow")
    def get(self, request, key: str, number: int):
        version = workflow_version_get(workflow=_workflow(key), number=number)
        if version is None:
            raise ApplicationError(
                "version_not_found",
                f"Workflow '{key}' has no version {number}.",
                kind=ErrorKind.NOT_FOUND,
            )
        return Response(WorkflowVersionOutSerializer(version).data)


class WorkflowRolloutView(GenericAPIView):
    @_workflow_action(
        "Roll a version out to a share of subscribers",
        (
            "Sends `version` to `percent` % of subscribers (0-100, two decimals), chosen by "
            "a hash of the workflow key and the subscriber id, so the same subscribers get it "
            "on every trigger; the live version goes to the rest. 400 `version_is_live` for "
            "the live version, 404 `version_not_found` for an unknown one."
        ),
        RolloutInSerializer,
        {"version": 2, "percent": 10},
        {400: INVALID},
    )
    def post(self, request, key: str):
        data = validated(RolloutInSerializer, request)
        workflow = workflow_rollout(
            workflow=_workflow(key), version=data["version"], percent=data["percent"]
        )
        return Response(WorkflowOutSerializer(workflow).data)


class WorkflowPromoteView(GenericAPIView):
    @_workflow_action(
        "Make the rolled-out version live",
        "The version being rolled out goes to everyone. 409 `no_rollout` if none is.",
        None,
        None,
        {409: conflict_response("no_rollout")},
    )
    def post(self, request, key: str):
        return Response(WorkflowOutSerializer(workflow_promote(workflow=_workflow(key))).data)


class WorkflowRollbackView(GenericAPIView):
    @_workflow_action(
        "Make an earlier version live",
        "The version goes to everyone at once; any rollout ends. Notifications already "
        "started keep the version they started with.",
        RollbackInSerializer,
        {"version": 1},
        {400: INVALID},
    )
    def post(self, request, key: str):
        data = validated(RollbackInSerializer, request)
        workflow = workflow_rollback(workflow=_workflow(key), version=data["version"])
        return Response(WorkflowOutSerializer(workflow).data)
