"""What the tenant admin's modules share: URLs, formset rows, service errors, read-only pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from notifications.selectors.audit import audit_entries, audit_resource_for_model
from platform_core.admin_sites import tenant_admin_site
from platform_core.errors import ApplicationError


def admin_url(model, view: str, *args: Any, query: str = "") -> str:
    """The URL of one of this site's admin views for a model (`changelist`, `change`, ...)."""
    opts = model._meta
    url = reverse(f"{tenant_admin_site.name}:{opts.app_label}_{opts.model_name}_{view}", args=args)
    return f"{url}?{query}" if query else url


def kept_forms(formset) -> list[forms.Form]:
    """The rows a formset will keep: existing ones not deleted, and filled-in new ones."""
    return [
        form
        for form in formset.forms
        if (form.instance.pk is not None or form.has_changed())
        and not (formset.can_delete and formset._should_delete_form(form))
    ]


def inline_formset(formsets, model: type[Model]) -> forms.BaseInlineFormSet | None:
    """The inline formset of `model`, its changes applied to its rows but not saved.

    None when the user may not see that inline. The change log reads the formset's
    new/changed/deleted objects, which `save(commit=False)` fills in.
    """
    formset = next((fs for fs in formsets if fs.model is model), None)
    if formset is not None:
        formset.save(commit=False)
    return formset


class ServiceErrorsMixin:
    """Shows an ApplicationError a service raises while saving (a concurrent change) on the form.

    The forms validate what the services do, so this is the rare race. The admin view's
    transaction has rolled back by the time the error gets here; the form is shown again
    with the user's input, each field the error names that the form has carrying its
    problems, and the message (with any other fields) above the form.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            if request.method != "POST":
                raise
            request._service_error = exc
            # Validated again, the form now fails with the error: shown, nothing saved.
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        error = getattr(request, "_service_error", None)
        return form_class if error is None else _failing_with(form_class, error)


def _failing_with(form_class: type[forms.BaseForm], error: ApplicationError):
    """`form_class`, whose validation ends in `error`: on its fields where they match."""

    class ServiceErrorForm(form_class):
        def clean(self):
            cleaned = super().clean()
            others: list[str] = []
            for name, problems in (error.fields or {}).items():
                # A form may say which of its fields a service's name is about.
                target = self._field_for(name) if hasattr(self, "_field_for") else name
                if target in self.fields and target not in self.errors:
                    self.add_error(target, problems)
                elif name in self.fields and name not in self.errors:
                    self.add_error(name, problems)
                else:
                    others.append(f"{name}: {' '.join(problems)}")
            details = f" ({'; '.join(others)})" if others else ""
            self.add_error(None, f"Nothing was saved: {error.message}{details}")
            return cleaned

    ServiceErrorForm.__name__ = form_class.__name__
    return ServiceErrorForm


class SavedWithInlinesMixin:
    """Written in `save_related`, together with its inline rows, by the service the API uses:
    `save_model` writes nothing."""

    def save_model(self, request, obj, form, change):
        pass


class ReadOnlyMixin:
    """History is viewed, never written, from the admin (for model admins and inlines)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """A model admin that shows rows and changes nothing."""


def _changes(before: dict | None, after: dict | None) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for each field a change touched."""
    before, after = before or {}, after or {}
    return [
        (name, before.get(name), after.get(name))
        for name in dict.fromkeys([*before, *after])
        if before.get(name) != after.get(name)
    ]


class AuditHistoryMixin:
    """The change page's "History" shows the object's audit history: each change through
    the API, the admin or `import_config`, who made it, and each field before and after."""

    def history_view(self, request, object_id, extra_context=None):
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        resource = audit_resource_for_model(self.model)
        entries = audit_entries(resource=resource, object_id=obj.pk) if resource else []
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}",
            "subtitle": None,
            "object": obj,
            "opts": self.model._meta,
            "entries": [(entry, _changes(entry.before, entry.after)) for entry in entries],
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/notifications/audit_history.html", context)
