"""Provider integrations: the tenant's accounts at email, SMS, push and chat providers.

Each provider gets its own form, built from its connector's typed config dataclass
(`Connector.config_fields`): a field per setting and per credential, typed. Credentials are
write-only: stored encrypted, never rendered back; left blank, the stored value stays. A
"send a test" button sends one message through the real connector.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import escape

from connectors.anymail import anymail_esps
from connectors.base import ConfigError, ConfigField
from connectors.registry import UnknownProvider, get_connector_class, providers_for
from notifications.admin.common import AuditHistoryMixin, ServiceErrorsMixin, admin_url
from notifications.models import Channel, Integration
from notifications.pipeline.feedback.provider import integration_webhook_url
from notifications.services.config import (
    integration_create,
    integration_settings_errors,
    integration_update,
)
from notifications.services.testsend import integration_send_test
from platform_core.admin_sites import tenant_admin_site
from platform_core.errors import ApplicationError

# Settings every integration may carry, whatever its provider (notifications.pipeline.governance).
RATE_FIELDS = ("rate_limit_per_second", "burst")
SETTING = "settings__"
CREDENTIAL = "credentials__"


def provider_choices() -> list[tuple[str, Any]]:
    """Every registered provider, grouped by channel (`anymail:<esp>` for each ESP)."""
    groups: list[tuple[str, Any]] = [("", "---------")]
    for channel, label in Channel.choices:
        if channel == Channel.IN_APP:
            continue
        groups.append((label, [(key, key) for key in channel_providers(channel)]))
    return groups


def channel_providers(channel: str) -> list[str]:
    keys = [key for key in providers_for(channel) if key != "anymail"]
    if channel == Channel.EMAIL:
        keys += [f"anymail:{esp}" for esp in anymail_esps()]
    return keys


class WriteOnlyTextarea(forms.Textarea):
    """Never renders a value, not even the one just submitted: secrets go in, never out."""

    def format_value(self, value):
        return None


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize().replace("Url", "URL").replace("Tls", "TLS")


def form_field(spec: ConfigField, *, stored: bool) -> forms.Field:
    """The form field for one setting or credential of a connector."""
    # The admin renders help texts as HTML; a connector's are plain text ("Acme <a@b.c>").
    common: dict[str, Any] = {"label": _label(spec.name), "help_text": escape(spec.help)}
    if spec.source == "credentials":
        widget = (
            WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off"})
            if spec.multiline or spec.type is dict
            else forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
        )
        note = "Stored encrypted; never shown. " + (
            "Leave blank to keep the stored value." if stored else ""
        )
        common["help_text"] = f"{escape(spec.help)} {note}".strip()
        # A stored secret may be left blank; a new required one is checked by the connector.
        return forms.CharField(required=False, strip=False, widget=widget, **common)
    required = spec.required
    if spec.type is bool:
        return forms.BooleanField(required=False, **common)
    if spec.type is int:
        return forms.IntegerField(required=required, **common)
    if spec.type is float:
        return forms.FloatField(required=required, **common)
    if spec.type is dict:
        return forms.JSONField(required=required, **common)
    if spec.choices:
        choices = [("", "(default)"), *((c, c) for c in spec.choices)]
        return forms.ChoiceField(choices=choices, required=required, **common)
    if spec.default not in (None, "") and not common["help_text"]:
        common["help_text"] = f"Default: {escape(spec.default)}"
    elif spec.default not in (None, ""):
        common["help_text"] = f"{escape(spec.help)} Blank: {escape(spec.default)}."
    return forms.CharField(required=required, **common)


class JsonObjectField(forms.JSONField):
    """A JSON object; empty shows as an empty box, not `null`."""

    def prepare_value(self, value):
        return "" if value in (None, {}) else super().prepare_value(value)


class ProviderForm(forms.ModelForm):
    """The fields every integration has; `for_provider` adds the provider's own."""

    provider_key: str = ""
    specs: tuple[ConfigField, ...] = ()

    extra_settings = JsonObjectField(
        required=False,
        label="Other settings",
        help_text='A JSON object of further provider options, e.g. {"message_stream": '
        '"outbound"}. Blank: none.',
    )
    rate_limit_per_second = forms.FloatField(
        required=False,
        min_value=0,
        label="Rate limit per second",
        help_text="At most this many sends a second across every worker; blank: no limit.",
    )
    burst = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="How many may go at once after a quiet spell (default 1).",
    )

    class Meta:
        model = Integration
        fields = ("name", "primary", "active")
        help_texts = {"primary": "The channel's other integrations stop being primary."}

    @classmethod
    def for_provider(cls, provider: str, *, stored: bool) -> type[ProviderForm]:
        connector = get_connector_class(provider)
        specs = connector.config_fields()
        declared = {
            f"{CREDENTIAL if spec.source == 'credentials' else SETTING}{spec.name}": form_field(
                spec, stored=stored
            )
            for spec in specs
        }
        return type(
            f"{connector.__name__}Form",
            (cls,),
            {"provider_key": provider, "specs": specs, **declared},
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings = dict(self.instance.settings or {}) if self.instance.pk else {}
        for spec in self.specs:
            if spec.source == "settings" and spec.name in settings:
                self.initial.setdefault(f"{SETTING}{spec.name}", settings.pop(spec.name))
            elif spec.source == "settings" and not self.instance.pk and spec.type is bool:
                self.initial.setdefault(f"{SETTING}{spec.name}", bool(spec.default))
        for name in RATE_FIELDS:
            if name in settings:
                self.initial.setdefault(name, settings.pop(name))
        if settings:
            self.initial.setdefault("extra_settings", settings)

    @property
    def channel(self) -> str:
        return get_connector_class(self.provider_key).channel

    @classmethod
    def setting_names(cls) -> list[str]:
        return [f"{SETTING}{s.name}" for s in cls.specs if s.source == "settings"]

    @classmethod
    def credential_names(cls) -> list[str]:
        return [f"{CREDENTIAL}{s.name}" for s in cls.specs if s.source == "credentials"]

    def _field_for(self, name: str) -> str | None:
        """The form field an error's name (`settings.host`, `credentials.password`) is about."""
        source, _, key = name.partition(".")
        if source == "settings":
            if f"{SETTING}{key}" in self.fields:
                return f"{SETTING}{key}"
            return key if key in RATE_FIELDS else "extra_settings"
        if source == "credentials" and f"{CREDENTIAL}{key}" in self.fields:
            return f"{CREDENTIAL}{key}"
        return None

    def clean_extra_settings(self):
        extra = self.cleaned_data["extra_settings"]
        if extra in (None, ""):
            return {}
        if not isinstance(extra, dict):
            raise forms.ValidationError("Enter a JSON object.")
        return extra

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        settings: dict[str, Any] = dict(cleaned.get("extra_settings") or {})
        credentials: dict[str, Any] = dict(self.instance.credentials) if self.instance.pk else {}
        for spec in self.specs:
            if spec.source == "settings":
                value = cleaned.get(f"{SETTING}{spec.name}")
                if spec.type is bool:
                    settings[spec.name] = bool(value)
                elif value not in (None, ""):
                    settings[spec.name] = value
                else:
                    settings.pop(spec.name, None)
            else:
                value = cleaned.get(f"{CREDENTIAL}{spec.name}")
                if value:  # blank keeps the stored one
                    credentials[spec.name] = _credential_value(spec, value)
        for name in RATE_FIELDS:
            if cleaned.get(name) is not None:
                settings[name] = cleaned[name]
            else:
                settings.pop(name, None)
        problems: dict[str, list[str]] = dict(integration_settings_errors(settings))
        try:
            get_connector_class(self.provider_key).validate_config(
                dict(settings), dict(credentials)
            )
        except ConfigError as exc:
            for name, messages_ in exc.fields.items():
                problems.setdefault(name, []).extend(messages_)
        for name, messages_ in problems.items():
            field = self._field_for(name)
            if field is not None and field not in self.errors:
                self.add_error(field, messages_)
            else:
                self.add_error(None, f"{name}: {' '.join(messages_)}")
        cleaned["settings"] = settings
        cleaned["credentials"] = credentials
        return cleaned


def _credential_value(spec: ConfigField, value: str) -> Any:
    if spec.type is dict:
        try:
            return json.loads(value)
        except ValueError:
            return value  # the connector says what is wrong with it
    return value


class ProviderChoiceForm(forms.Form):
    provider = forms.ChoiceField(choices=provider_choices, help_text="Who sends the messages.")


@admin.register(Integration, site=tenant_admin_site)
class IntegrationAdmin(AuditHistoryMixin, ServiceErrorsMixin, admin.ModelAdmin):
    list_display = ("name", "channel", "provider", "primary", "active", "has_credentials")
    list_filter = ("channel", "primary", "active")
    search_fields = ("name", "provider")
    readonly_fields = (
        "channel",
        "provider",
        "has_credentials",
        "webhook_url",
        "created_at",
        "updated_at",
    )
    change_form_template = "admin/notifications/integration/change_form.html"

    def _provider(self, request, obj) -> str | None:
        if obj is not None:
            return obj.provider
        provider = request.POST.get("_provider") or request.GET.get("provider") or ""
        try:
            get_connector_class(provider)
        except UnknownProvider:
            return None
        return provider

    def get_form(self, request, obj=None, change=False, **kwargs):
        provider = self._provider(request, obj)
        try:
            kwargs["form"] = ProviderForm.for_provider(provider, stored=obj is not None)
        except UnknownProvider:  # an integration of a provider no longer registered
            kwargs["form"] = ProviderForm
        kwargs["fields"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        form = self.get_form(request, obj)
        general = ["name", "primary", "active"]
        if obj is not None:
            general = ["channel", "provider", *general]
        fieldsets = [(None, {"fields": general})]
        if settings := form.setting_names():
            fieldsets.append(("Settings", {"fields": settings}))
        if credentials := form.credential_names():
            fieldsets.append(("Credentials", {"fields": credentials}))
        fieldsets.append(
            ("Sending rate and other settings", {"fields": [*RATE_FIELDS, "extra_settings"]})
        )
        if obj is not None:
            record = ["has_credentials", "webhook_url", "created_at", "updated_at"]
            fieldsets.append(("Record", {"fields": record}))
        return fieldsets

    def add_view(self, request, form_url="", extra_context=None):
        if self._provider(request, None) is None:
            return self._choose_provider(request)
        extra_context = {**(extra_context or {}), "provider": self._provider(request, None)}
        return super().add_view(request, form_url, extra_context)

    def _choose_provider(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ProviderChoiceForm(request.GET or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add integration: choose the provider",
            "form": form,
            "providers": [
                (label, channel_providers(channel))
                for channel, label in Channel.choices
                if channel != Channel.IN_APP
            ],
        }
        return TemplateResponse(
            request, "admin/notifications/integration/choose_provider.html", context
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
        fields = {name: data[name] for name in ("name", "primary", "active")}
        if change:
            saved = integration_update(
                integration=obj,
                channel=obj.channel,
                provider=obj.provider,
                settings=data["settings"],
                credentials=data["credentials"],
                **fields,
            )
        else:
            saved = integration_create(
                channel=form.channel,
                provider=form.provider_key,
                settings=data["settings"],
                credentials=data["credentials"],
                **fields,
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    # --- send a test -----------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/send-test/",
                self.admin_site.admin_view(self.send_test_view),
                name="notifications_integration_send_test",
            ),
            *super().get_urls(),
        ]

    def has_send_test_permission(self, request, obj=None) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "send_test_allowed": self.has_send_test_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def send_test_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        integration = self.get_object(request, object_id)
        if integration is None or not self.has_send_test_permission(request, integration):
            raise PermissionDenied
        to = request.POST.get("to", "")
        try:
            result = integration_send_test(integration=integration, to=to)
        except ApplicationError as exc:
            detail = " ".join(m for ms in (exc.fields or {}).values() for m in ms)
            self.message_user(request, f"Test not sent: {detail or exc.message}", messages.ERROR)
        else:
            answer = f" (provider message id {result.provider_message_id})"
            self.message_user(
                request,
                f"Test sent to {to} through '{integration.name}'"
                f"{answer if result.provider_message_id else ''}.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(admin_url(Integration, "change", integration.pk))
