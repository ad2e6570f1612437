"""Provider integrations: the tenant's accounts at email, SMS, push and chat providers.

Credentials are write-only: stored encrypted, never shown again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from connectors.anymail import anymail_esps
from connectors.base import ConfigError
from connectors.registry import UnknownProvider, get_connector_class, providers_for
from notifications.admin.common import AuditHistoryMixin, ServiceErrorsMixin
from notifications.models import Channel, Integration
from notifications.pipeline.feedback.provider import integration_webhook_url
from notifications.services.config import (
    integration_create,
    integration_settings_errors,
    integration_update,
)
from platform_core.admin_sites import tenant_admin_site


def provider_choices() -> list[tuple[str, Any]]:
    """Every registered provider, grouped by channel (`anymail:<esp>` for each ESP)."""
    groups: list[tuple[str, Any]] = [("", "---------")]
    for channel, label in Channel.choices:
        if channel == Channel.IN_APP:
            continue
        keys = [key for key in providers_for(channel) if key != "anymail"]
        if channel == Channel.EMAIL:
            keys += [f"anymail:{esp}" for esp in anymail_esps()]
        groups.append((label, [(key, key) for key in keys]))
    return groups


class WriteOnlyTextarea(forms.Textarea):
    """Never renders a value, not even the one just submitted: secrets go in, never out."""

    def format_value(self, value):
        return None


class IntegrationForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=provider_choices)
    credentials = forms.JSONField(
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text='A JSON object, e.g. {"username": "…", "password": "…"}. Stored encrypted; '
        "never shown again.",
    )

    class Meta:
        model = Integration
        fields = ("channel", "provider", "name", "settings", "credentials", "primary", "active")
        help_texts = {"primary": "The channel's other integrations stop being primary."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # In-app is built in: it has no provider account.
        channel = self.fields["channel"]
        channel.choices = [choice for choice in channel.choices if choice[0] != Channel.IN_APP]
        if self.instance.pk:
            self.fields["credentials"].help_text = (
                "Leave blank to keep the stored credentials; {} removes them. Stored "
                "encrypted; never shown."
            )

    def clean_settings(self):
        settings = self.cleaned_data["settings"]
        if settings is None:
            return {}
        if not isinstance(settings, dict):
            raise ValidationError("Enter a JSON object.")
        return settings

    def clean_credentials(self):
        credentials = self.cleaned_data["credentials"]
        if credentials is not None and not isinstance(credentials, dict):
            raise ValidationError("Enter a JSON object.")
        return credentials  # None: keep the stored ones

    def clean(self):
        cleaned = super().clean()
        channel, provider = cleaned.get("channel"), cleaned.get("provider")
        settings = cleaned.get("settings")
        if not (channel and provider) or settings is None or "credentials" in self.errors:
            return cleaned
        try:
            connector = get_connector_class(provider)
        except UnknownProvider:
            connector = None
        if connector is None or connector.channel != channel:
            shown = ", ".join(key for key in providers_for(channel) if key != "anymail")
            if channel == Channel.EMAIL:
                shown += ", anymail:<esp>"
            self.add_error("provider", f"'{provider}' is not a {channel} provider; use {shown}.")
            return cleaned
        for name, problems in integration_settings_errors(settings).items():
            detail = name.partition(".")[2]
            self.add_error("settings", [f"{detail}: {problem}" for problem in problems])
        credentials = cleaned.get("credentials")
        if credentials is None:
            credentials = self.instance.credentials if self.instance.pk else {}
        try:
            connector.validate_config(dict(settings), dict(credentials))
        except ConfigError as exc:
            for name, problems in exc.fields.items():
                field, _, detail = name.partition(".")
                if field not in ("settings", "credentials", "provider"):
                    field, detail = ("credentials" if name in credentials else "settings"), name
                self.add_error(
                    field, [f"{detail}: {problem}" if detail else problem for problem in problems]
                )
        return cleaned


@admin.register(Integration, site=tenant_admin_site)
class IntegrationAdmin(AuditHistoryMixin, ServiceErrorsMixin, admin.ModelAdmin):
    form = IntegrationForm
    list_display = ("name", "channel", "provider", "primary", "active", "has_credentials")
    list_filter = ("channel", "primary", "active")
    search_fields = ("name", "provider")
    readonly_fields = ("has_credentials", "webhook_url", "created_at", "updated_at")

    def get_fields(self, request, obj=None):
        fields = ("channel", "provider", "name", "settings", "credentials", "primary", "active")
        return fields + (
            ("has_credentials", "webhook_url", "created_at", "updated_at") if obj else ()
        )

    @admin.display(description="webhook URL")
    def webhook_url(self, obj):
        try:
            receives = get_connector_class(obj.provider).receives_webhooks
        except UnknownProvider:
            receives = False
        return integration_webhook_url(obj.pk) if receives else "—"

    @admin.display(description="has credentials")
    def has_credentials(self, obj):
        return "yes" if obj.credentials else "no"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {
            name: data[name]
            for name in ("channel", "provider", "name", "settings", "primary", "active")
        }
        if change:
            saved = integration_update(integration=obj, credentials=data["credentials"], **fields)
        else:
            saved = integration_create(credentials=data["credentials"] or {}, **fields)
        obj.pk = saved.pk
        obj.refresh_from_db()
