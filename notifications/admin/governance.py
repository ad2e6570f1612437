"""Throttles: at most so many deliveries per subscriber in a window, written through the
services the API uses."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from notifications.admin.common import AuditHistoryMixin, ServiceErrorsMixin
from notifications.models import Throttle, Workflow
from notifications.services.config import (
    key_validator,
    throttle_create,
    throttle_delete,
    throttle_replace,
)
from notifications.services.config.throttles import (
    THROTTLE_LIMIT_MAX,
    THROTTLE_WINDOW_MAX_SECONDS,
)
from platform_core.admin_sites import tenant_admin_site

_SERVICE_FIELDS = ("limit", "window_seconds", "channel", "workflow_key", "applies_to_critical")


class ThrottleForm(forms.ModelForm):
    key = forms.CharField(max_length=100, validators=[key_validator])
    limit = forms.IntegerField(min_value=1, max_value=THROTTLE_LIMIT_MAX)
    window_seconds = forms.IntegerField(min_value=1, max_value=THROTTLE_WINDOW_MAX_SECONDS)
    workflow_key = forms.ChoiceField(
        label="Workflow",
        required=False,
        help_text="Only this workflow's deliveries count and are limited; blank: every workflow.",
    )

    class Meta:
        model = Throttle
        fields = ("key", *_SERVICE_FIELDS)
        help_texts = {
            "channel": "Only deliveries on this channel count and are limited; blank: every "
            "channel.",
            "applies_to_critical": "Limit critical deliveries (critical workflow or priority) too.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        keys = list(Workflow.objects.order_by("key").values_list("key", flat=True))
        current = self.instance.workflow_key
        if current and current not in keys:
            keys.append(current)
        self.fields["workflow_key"].choices = [("", "every workflow")] + [(k, k) for k in keys]


@admin.register(Throttle, site=tenant_admin_site)
class ThrottleAdmin(AuditHistoryMixin, ServiceErrorsMixin, admin.ModelAdmin):
    form = ThrottleForm
    list_display = ("key", "limit", "window_seconds", "channel", "workflow_key",
                    "applies_to_critical", "updated_at")  # fmt: skip
    list_filter = ("channel", "applies_to_critical")
    search_fields = ("key", "workflow_key")

    def get_readonly_fields(self, request, obj=None):
        return ("key", "created_at", "updated_at") if obj else ()

    def get_fields(self, request, obj=None):
        fields = ("key", *_SERVICE_FIELDS)
        return fields + (("created_at", "updated_at") if obj else ())

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in _SERVICE_FIELDS}
        if change:
            saved = throttle_replace(throttle=obj, **data)
        else:
            saved = throttle_create(key=form.cleaned_data["key"], **data)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        throttle_delete(throttle=obj)

    def delete_queryset(self, request, queryset):
        for throttle in queryset:
            throttle_delete(throttle=throttle)
