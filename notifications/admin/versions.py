"""The workflow page's versions: the list, a diff between two, and the rollout controls.

Rollout, promote and rollback go through the services the API uses.
"""

from __future__ import annotations

import difflib
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html, format_html_join

from notifications.admin.common import admin_url
from notifications.models import Workflow, WorkflowVersion
from notifications.services.config import workflow_promote, workflow_rollback, workflow_rollout
from platform_core.errors import ApplicationError


def snapshot_lines(version: WorkflowVersion) -> list[str]:
    """A version's snapshot as the lines the diff compares (stable key order)."""
    return json.dumps(version.snapshot, indent=2, sort_keys=True).splitlines()


class RolloutForm(forms.Form):
    ACTIONS = (
        ("rollout", "Roll out a version to a share of subscribers"),
        ("promote", "Promote the version being rolled out"),
        ("rollback", "Make a version live (roll back)"),
    )

    action = forms.ChoiceField(choices=ACTIONS, widget=forms.RadioSelect)
    version = forms.IntegerField(min_value=1, required=False)
    percent = forms.DecimalField(
        min_value=0, max_value=100, decimal_places=2, required=False, help_text="0 to 100."
    )

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        if action in ("rollout", "rollback") and cleaned.get("version") is None:
            self.add_error("version", "Choose a version.")
        if action == "rollout" and cleaned.get("percent") is None:
            self.add_error("percent", "Give a share of subscribers.")
        return cleaned


class WorkflowVersionsMixin:
    """For WorkflowAdmin: `versions_overview` (a read-only field) and two pages of its own."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/versions/diff/",
                view(self.versions_diff_view),
                name="notifications_workflow_versions_diff",
            ),
            path(
                "<path:object_id>/versions/rollout/",
                view(self.versions_rollout_view),
                name="notifications_workflow_versions_rollout",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="versions")
    def versions_overview(self, obj: Workflow):
        versions = list(obj.versions.order_by("-number"))
        if not versions:
            return "No version yet: the next change is version 1."
        diff_url = admin_url(Workflow, "versions_diff", obj.pk)
        rows = format_html_join(
            "",
            "<tr><td>v{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    version.number,
                    _state(obj, version),
                    version.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                    format_html(
                        '<a href="{}?a={}&amp;b={}">diff with v{}</a>',
                        diff_url,
                        obj.version,
                        version.number,
                        obj.version,
                    )
                    if version.number != obj.version
                    else "",
                )
                for version in versions
            ),
        )
        return format_html(
            "<table><thead><tr><th>version</th><th>state</th><th>created</th><th></th></tr>"
            '</thead><tbody>{}</tbody></table><p><a class="button" href="{}">'
            "Roll out, promote or roll back…</a></p>",
            rows,
            admin_url(Workflow, "versions_rollout", obj.pk),
        )

    def _workflow(self, request, object_id) -> Workflow:
        workflow = get_object_or_404(Workflow, pk=object_id)
        if not self.has_view_permission(request, workflow):
            raise PermissionDenied
        return workflow

    def _context(self, request, workflow: Workflow, title: str) -> dict:
        request.current_app = self.admin_site.name
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "original": workflow,
            "change_url": admin_url(Workflow, "change", workflow.pk),
        }

    def versions_diff_view(self, request, object_id):
        workflow = self._workflow(request, object_id)
        numbers = list(workflow.versions.values_list("number", flat=True))
        try:
            a = int(request.GET.get("a") or (numbers[-2] if len(numbers) > 1 else numbers[-1]))
            b = int(request.GET.get("b") or numbers[-1])
        except (ValueError, IndexError):
            raise Http404("No such versions.") from None
        old = workflow.versions.filter(number=a).first()
        new = workflow.versions.filter(number=b).first()
        if old is None or new is None:
            raise Http404("No such versions.")
        table = difflib.HtmlDiff(wrapcolumn=80).make_table(
            snapshot_lines(old), snapshot_lines(new), f"v{a}", f"v{b}", context=False
        )
        context = self._context(request, workflow, f"{workflow.key}: v{a} → v{b}")
        context.update({"diff_table": table, "numbers": numbers, "a": a, "b": b})
        return TemplateResponse(request, "admin/notifications/workflow/version_diff.html", context)

    def versions_rollout_view(self, request, object_id):
        workflow = self._workflow(request, object_id)
        if request.method == "POST":
            if not self.has_change_permission(request, workflow):
                raise PermissionDenied
            form = RolloutForm(request.POST)
            if form.is_valid():
                try:
                    done = _apply(workflow, form.cleaned_data)
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, done)
                    return HttpResponseRedirect(admin_url(Workflow, "change", workflow.pk))
        else:
            form = RolloutForm(initial={"action": "rollout"})
        context = self._context(request, workflow, f"Roll out versions of {workflow.key}")
        context.update(
            {
                "form": form,
                "versions": [
                    (version.number, _state(workflow, version))
                    for version in workflow.versions.order_by("-number")
                ],
            }
        )
        return TemplateResponse(
            request, "admin/notifications/workflow/version_rollout.html", context
        )


def _state(workflow: Workflow, version: WorkflowVersion) -> str:
    if version.number == workflow.version:
        return "live"
    if version.number == workflow.rollout_version:
        return f"rolled out to {workflow.rollout_percent}%"
    return ""


def _apply(workflow: Workflow, data: dict) -> str:
    action = data["action"]
    if action == "rollout":
        workflow_rollout(workflow=workflow, version=data["version"], percent=str(data["percent"]))
        return f"Version {data['version']} goes to {data['percent']}% of subscribers."
    if action == "promote":
        workflow = workflow_promote(workflow=workflow)
        return f"Version {workflow.version} is live for everyone."
    workflow_rollback(workflow=workflow, version=data["version"])
    return f"Version {data['version']} is live for everyone."
