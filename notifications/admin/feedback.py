"""Webhook endpoints: seen, turned on or off here, with their latest attempts; created through
the API, which shows the signing secret once."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from notifications.models import WebhookEndpoint
from notifications.services.feedback import webhook_endpoint_update
from platform_core.admin_sites import tenant_admin_site

_LATEST_ATTEMPTS = 20


@admin.register(WebhookEndpoint, site=tenant_admin_site)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("id", "url", "active", "failing_since", "disabled_reason", "updated_at")
    list_filter = ("active",)
    fields = (
        "url",
        "events",
        "active",
        "failing_since",
        "disabled_reason",
        "latest_attempts",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "url",
        "events",
        "failing_since",
        "disabled_reason",
        "latest_attempts",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        # Created through the API: its response is the only place the secret is shown.
        return False

    def save_model(self, request, obj, form, change):
        """Only `active` is edited here; turning it on clears the failure record."""
        webhook_endpoint_update(endpoint=obj, active=obj.active)

    @admin.display(description="latest attempts")
    def latest_attempts(self, obj):
        attempts = obj.attempts.select_related("message").order_by("-id")[:_LATEST_ATTEMPTS]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    a.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    a.message.event_type,
                    a.message.webhook_id,
                    a.attempt,
                    a.response_code if a.response_code is not None else "—",
                    "ok" if a.succeeded else a.error,
                )
                for a in attempts
            ),
        )
        if not rows:
            return "No attempts yet."
        return format_html(
            "<table><thead><tr><th>when</th><th>event</th><th>webhook-id</th><th>attempt</th>"
            "<th>response</th><th>result</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )
