"""Routes and workflows: which events run which steps.

Workflows are written through the services the API uses, steps included, with the
services' problems shown on the step rows.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.html import format_html_join

from notifications.admin.common import (
    AuditHistoryMixin,
    SavedWithInlinesMixin,
    ServiceErrorsMixin,
    admin_url,
    inline_formset,
    kept_forms,
)
from notifications.admin.versions import WorkflowVersionsMixin
from notifications.models import Route, Workflow, WorkflowStep
from notifications.services.config import (
    MAX_ATTEMPTS_RANGE,
    MAX_STEPS,
    event_validator,
    key_validator,
    workflow_create,
    workflow_replace,
    workflow_step_representation,
    workflow_steps_errors,
)
from platform_core.admin_sites import tenant_admin_site

# --- routes ----------------------------------------------------------------------------------


class RouteForm(forms.ModelForm):
    event = forms.CharField(max_length=200, validators=[event_validator])

    class Meta:
        model = Route
        fields = ("event", "event_version", "workflow", "priority", "active", "max_attempts")

    def clean_max_attempts(self):
        value = self.cleaned_data["max_attempts"]
        low, high = MAX_ATTEMPTS_RANGE
        if not low <= value <= high:
            raise ValidationError(f"Use a whole number from {low} to {high}.")
        return value


@admin.register(Route, site=tenant_admin_site)
class RouteAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = RouteForm
    list_display = (
        "event",
        "event_version",
        "workflow",
        "priority",
        "active",
        "max_attempts",
        "updated_at",
    )
    list_editable = ("priority", "active")
    list_filter = ("active", "priority", "workflow")
    list_select_related = ("workflow",)
    search_fields = ("event", "workflow__key")
    readonly_fields = ("created_at", "updated_at")


# --- workflows -------------------------------------------------------------------------------

# Where workflow_steps_errors' field names (`steps.2.window_seconds`) live on a step row.
STEP_ERROR_FIELDS = {
    "type": "type",
    "channel": "channel",
    "template": "template_key",
    "seconds": "seconds",
    "window_seconds": "seconds",
    "condition": "unread_step",
}


class WorkflowForm(forms.ModelForm):
    class Meta:
        model = Workflow
        fields = ("key", "name", "critical", "send_window", "track_clicks", "track_opens")
        help_texts = {
            "send_window": '{"start": "08:00", "end": "21:00"} in the subscriber\'s time zone: '
            "non-critical email, SMS and push wait for it. Empty: any time."
        }

    def clean_key(self):
        key = self.cleaned_data["key"]
        key_validator(key)
        return key


class WorkflowStepFormSet(forms.BaseInlineFormSet):
    """Validates the whole list of steps as the API does, and keeps it in `self.steps`.

    Rows are taken in position order; positions are renumbered 0, 1, 2... on save, and
    `unread_step` (a position) is translated to the API's step index.
    """

    steps: list[dict[str, Any]] | None = None

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        rows = sorted(kept_forms(self), key=lambda form: form.instance.position)
        index_of = {form.instance.position: index for index, form in enumerate(rows)}
        steps = []
        for form in rows:
            item = workflow_step_representation(form.instance)
            if "condition" in item:
                unread = form.instance.unread_step
                if unread in index_of:
                    item["condition"] = {"unread": index_of[unread]}
                else:
                    del item["condition"]
                    form.add_error("unread_step", f"No step at position {unread}.")
            steps.append(item)

        general: list[str] = []
        for name, problems in workflow_steps_errors(steps=steps).items():
            parts = name.split(".")
            if len(parts) < 2:
                general.extend(problems)
                continue
            form = rows[int(parts[1])]
            field = STEP_ERROR_FIELDS.get(parts[2]) if len(parts) > 2 else None
            if field == "unread_step":
                # The API speaks of step indexes; the admin of positions.
                problems = [
                    f"The step at position {form.instance.unread_step} is not an earlier "
                    "in-app send step."
                ]
            form.add_error(field, problems)
        if general:
            raise ValidationError(general)
        self.steps = steps


class WorkflowStepForm(forms.ModelForm):
    class Meta:
        model = WorkflowStep
        fields = ("position", "type", "channel", "template_key", "seconds", "unread_step")
        labels = {
            "template_key": "Template",
            "seconds": "Seconds (delay or digest window)",
            "unread_step": "Only if unread (position)",
        }
        help_texts = {
            "unread_step": "Send only if the in-app message of the step at this position is "
            "still unread.",
        }


class WorkflowStepInline(admin.TabularInline):
    model = WorkflowStep
    form = WorkflowStepForm
    formset = WorkflowStepFormSet
    ordering = ("position",)
    extra = 1
    max_num = MAX_STEPS


@admin.register(Workflow, site=tenant_admin_site)
class WorkflowAdmin(
    AuditHistoryMixin,
    WorkflowVersionsMixin,
    ServiceErrorsMixin,
    SavedWithInlinesMixin,
    admin.ModelAdmin,
):
    form = WorkflowForm
    inlines = [WorkflowStepInline]
    list_display = (
        "key",
        "name",
        "critical",
        "version",
        "step_count",
        "route_count",
        "updated_at",
    )
    list_filter = ("critical",)
    search_fields = ("key", "name")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                step_total=Count("steps", distinct=True), route_total=Count("routes", distinct=True)
            )
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("key", "name", "critical", "send_window", "track_clicks", "track_opens")
        return (
            "key",
            "name",
            "critical",
            "send_window",
            "track_clicks",
            "track_opens",
            "used_by_routes",
            "versions_overview",
            "created_at",
            "updated_at",
        )

    def get_readonly_fields(self, request, obj=None):
        # The key is the workflow's identity in the API; it does not change.
        if obj is None:
            return ()
        return ("key", "used_by_routes", "versions_overview", "created_at", "updated_at")

    @admin.display(description="steps", ordering="step_total")
    def step_count(self, obj):
        return obj.step_total

    @admin.display(description="routes", ordering="route_total")
    def route_count(self, obj):
        return obj.route_total

    @admin.display(description="used by routes")
    def used_by_routes(self, obj):
        routes = obj.routes.order_by("event").only("pk", "event", "active")
        if not routes:
            return "No route uses this workflow."
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>{}',
            (
                (
                    admin_url(Route, "change", route.pk),
                    route.event,
                    "" if route.active else " (off)",
                )
                for route in routes
            ),
        )

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        steps_formset = inline_formset(formsets, WorkflowStep)
        if steps_formset is not None:
            steps = steps_formset.steps or []
        else:  # the user may not see the steps: they stay as they are
            steps = (
                [workflow_step_representation(step) for step in obj.steps.order_by("position")]
                if change
                else []
            )
        if change:
            workflow = workflow_replace(
                workflow=obj,
                name=obj.name,
                critical=obj.critical,
                send_window=obj.send_window,
                track_clicks=obj.track_clicks,
                track_opens=obj.track_opens,
                steps=steps,
            )
        else:
            workflow = workflow_create(
                key=obj.key,
                name=obj.name,
                critical=obj.critical,
                send_window=obj.send_window,
                track_clicks=obj.track_clicks,
                track_opens=obj.track_opens,
                steps=steps,
            )
        obj.pk = workflow.pk
        obj.refresh_from_db()
