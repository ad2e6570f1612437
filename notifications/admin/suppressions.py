"""Suppressed addresses: listed, searched and deleted (lifting the suppression)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from notifications.admin.common import admin_url
from notifications.models import Delivery, Suppression
from notifications.services.provider_feedback import suppression_delete
from platform_core.admin_sites import tenant_admin_site


@admin.register(Suppression, site=tenant_admin_site)
class SuppressionAdmin(admin.ModelAdmin):
    """Added by hard bounces and spam complaints; deleting one lets the address be sent to."""

    list_display = ("address", "channel", "reason", "created_at", "delivery_link")
    list_filter = ("channel", "reason")
    search_fields = ("address",)
    search_help_text = "An address (email or E.164 phone number)."
    fields = ("channel", "address", "reason", "delivery_link", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        suppression_delete(suppression_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            suppression_delete(suppression_id=pk)

    @admin.display(description="delivery")
    def delivery_link(self, obj):
        if obj.delivery_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', admin_url(Delivery, "change", obj.delivery_id), obj.delivery_id
        )
