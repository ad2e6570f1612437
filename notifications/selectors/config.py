"""Reads of the configuration rows: templates, workflows, routes, integrations, throttles.

Nothing here is cached beyond one call, so a change made through the API or the admin is
effective on the very next event.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from notifications.models import (
    Integration,
    Route,
    Template,
    TemplateVariant,
    Throttle,
    Workflow,
    WorkflowStep,
    WorkflowVersion,
)


def _templates() -> QuerySet[Template]:
    return Template.objects.prefetch_related(
        Prefetch("variants", queryset=TemplateVariant.objects.order_by("id"))
    )


def _workflows() -> QuerySet[Workflow]:
    return Workflow.objects.prefetch_related(
        Prefetch("steps", queryset=WorkflowStep.objects.order_by("position"))
    )


def template_list(
    *, key: str | None = None, channel: str | None = None, locale: str | None = None
) -> QuerySet[Template]:
    """Templates with their variants, optionally filtered by key, channel and locale."""
    queryset = _templates()
    if key:
        queryset = queryset.filter(key=key)
    if channel:
        queryset = queryset.filter(channel=channel)
    if locale:
        queryset = queryset.filter(locale=locale)
    return queryset


def template_get(*, key: str, locale: str | None = None) -> Template | None:
    """The template `key` in `locale` (default: CLARION_DEFAULT_LOCALE) with its variants."""
    locale = locale or settings.CLARION_DEFAULT_LOCALE
    return _templates().filter(key=key, locale=locale).first()


def templates_for_key(*, key: str) -> QuerySet[Template]:
    """Every locale of the template `key`, with variants, ordered by locale."""
    return _templates().filter(key=key).order_by("locale")


def workflow_list() -> QuerySet[Workflow]:
    """Workflows with their steps in order."""
    return _workflows()


def workflow_get(*, key: str) -> Workflow | None:
    """The workflow `key` with its steps in order, or None."""
    return _workflows().filter(key=key).first()


def workflow_versions(*, workflow: Workflow) -> QuerySet[WorkflowVersion]:
    """The versions of a workflow, oldest first."""
    return WorkflowVersion.objects.select_related("workflow").filter(workflow=workflow)


def workflow_version_get(*, workflow: Workflow, number: int) -> WorkflowVersion | None:
    """Version `number` of a workflow, or None."""
    return workflow_versions(workflow=workflow).filter(number=number).first()


def route_list(*, workflow_key: str | None = None, active: bool | None = None) -> QuerySet[Route]:
    """Routes with their workflow, optionally filtered by workflow key and active flag."""
    queryset = Route.objects.select_related("workflow")
    if workflow_key:
        queryset = queryset.filter(workflow__key=workflow_key)
    if active is not None:
        queryset = queryset.filter(active=active)
    return queryset


def route_get(*, event: str, event_version: int | None = None) -> Route | None:
    """The route of `event` bound to `event_version` (None: the unbound one), or None."""
    return (
        Route.objects.select_related("workflow")
        .filter(event=event, event_version=event_version)
        .first()
    )


def route_get_active(*, event: str) -> Route | None:
    """The active route of `event` with its workflow and the workflow's steps, or None."""
    return (
        Route.objects.select_related("workflow")
        .prefetch_related(
            Prefetch("workflow__steps", queryset=WorkflowStep.objects.order_by("position"))
        )
        .filter(event=event, active=True)
        .first()
    )


def integration_list(*, channel: str | None = None) -> QuerySet[Integration]:
    """Integrations, optionally of one channel."""
    queryset = Integration.objects.all()
    if channel:
        queryset = queryset.filter(channel=channel)
    return queryset


def integration_get(*, integration_id: int) -> Integration | None:
    """The integration with this id, or None."""
    return Integration.objects.filter(pk=integration_id).first()


def throttle_list(
    *, channel: str | None = None, workflow_key: str | None = None
) -> QuerySet[Throttle]:
    """Throttles, optionally only those of one channel or one workflow."""
    queryset = Throttle.objects.all()
    if channel:
        queryset = queryset.filter(channel=channel)
    if workflow_key:
        queryset = queryset.filter(workflow_key=workflow_key)
    return queryset


def throttle_get(*, key: str) -> Throttle | None:
    """The throttle `key`, or None."""
    return Throttle.objects.filter(key=key).first()
