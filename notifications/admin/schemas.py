"""Event schemas: one JSON Schema (2020-12) per event and version, written through the
service the API uses (same checks, same cache invalidation)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from notifications.models import EventSchema
from notifications.services.config import (
    event_schema_delete,
    event_schema_errors,
    event_schema_put,
    event_validator,
)
from platform_core.admin_sites import tenant_admin_site


class EventSchemaForm(forms.ModelForm):
    event = forms.CharField(max_length=200, validators=[event_validator])
    version = forms.IntegerField(min_value=1)

    class Meta:
        model = EventSchema
        fields = ("event", "version", "schema")
        help_texts = {
            "schema": "A JSON Schema 2020-12 object; only references inside it ('#/...').",
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        errors = event_schema_errors(
            event=cleaned.get("event", self.instance.event),
            version=cleaned.get("version", self.instance.version),
            schema=cleaned.get("schema"),
        )
        for field, messages in errors.items():
            self.add_error(field if field in self.fields else "schema", messages)
        return cleaned


@admin.register(EventSchema, site=tenant_admin_site)
class EventSchemaAdmin(admin.ModelAdmin):
    form = EventSchemaForm
    list_display = ("event", "version", "updated_at")
    search_fields = ("event",)
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # (event, version) is the schema's identity in the API.
        return ("event", "version", *self.readonly_fields) if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        row, _ = event_schema_put(event=obj.event, version=obj.version, schema=obj.schema)
        obj.pk = row.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        event_schema_delete(event_schema=obj)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            event_schema_delete(event_schema=row)
