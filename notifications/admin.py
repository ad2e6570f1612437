"""The tenant's admin: operators and marketers run routing, content and providers here.

Registered on `tenant_admin_site` only (each tenant's own host). Templates, workflows and
integrations are written through the services the API uses (same validation, same advisory
locks), with their problems shown on the form fields; the delivery history is read-only,
apart from replaying dead letters. Changes are recorded by the admin's LogEntry history.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from connectors.base import ConfigError
from connectors.email import anymail_esps
from connectors.registry import UnknownProvider, get_connector_class, providers_for
from notifications.models import (
    Channel,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    InboxMessage,
    Integration,
    Notification,
    Route,
    StepType,
    Subscriber,
    Template,
    TemplateVariant,
    Topic,
    TopicSubscription,
    Workflow,
    WorkflowStep,
)
from notifications.rendering import template_errors
from notifications.selectors.deliveries import notification_stats
from notifications.services.config import (
    EVENT_RE,
    KEY_RE,
    LOCALE_RE,
    MAX_ATTEMPTS_RANGE,
    MAX_STEPS,
    MAX_VARIANTS,
    integration_create,
    integration_update,
    template_create,
    template_upsert,
    workflow_create,
    workflow_replace,
    workflow_steps_errors,
)
from notifications.services.deliveries import deliveries_replay
from notifications.services.subscribers import (
    normalize_locale,
    normalize_phone,
    subscriber_erase,
    validate_timezone,
)
from platform_core.admin_sites import tenant_admin_site
from platform_core.api.errors import ApiError

key_validator = RegexValidator(
    KEY_RE, "Use letters, digits, '.', '_' or '-', starting with a letter or digit."
)
locale_validator = RegexValidator(LOCALE_RE, "Use a locale tag such as 'en', 'fr' or 'pt-BR'.")


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


class ServiceErrorsMixin:
    """Shows an ApiError a service raises while saving (a concurrent change) as a message.

    The forms validate what the services do, so this is the rare race; the admin view's
    transaction has rolled back by the time the error gets here.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApiError as exc:
            details = "; ".join(
                f"{field}: {' '.join(problems)}" for field, problems in (exc.fields or {}).items()
            )
            self.message_user(
                request,
                f"Nothing was saved: {exc.message}" + (f" ({details})" if details else ""),
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is viewed, never written, from the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- routes ----------------------------------------------------------------------------------


class RouteForm(forms.ModelForm):
    event = forms.CharField(
        max_length=200,
        validators=[RegexValidator(EVENT_RE, "Use 1-200 letters, digits, '.', '_', '-' or ':'.")],
    )

    class Meta:
        model = Route
        fields = ("event", "workflow", "priority", "active", "max_attempts")

    def clean_max_attempts(self):
        value = self.cleaned_data["max_attempts"]
        low, high = MAX_ATTEMPTS_RANGE
        if not low <= value <= high:
            raise ValidationError(f"Use a whole number from {low} to {high}.")
        return value


@admin.register(Route, site=tenant_admin_site)
class RouteAdmin(admin.ModelAdmin):
    form = RouteForm
    list_display = ("event", "workflow", "priority", "active", "max_attempts", "updated_at")
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


def step_as_api(step: WorkflowStep) -> dict[str, Any]:
    """A stored step in the API's list format (positions are indexes once saved)."""
    if step.type == StepType.SEND:
        item = {"type": step.type, "channel": step.channel, "template": step.template_key}
        if step.unread_step is not None:
            item["condition"] = {"unread": step.unread_step}
        return item
    if step.type == StepType.DELAY:
        return {"type": step.type, "seconds": step.seconds}
    return {"type": step.type, "window_seconds": step.seconds}


class WorkflowForm(forms.ModelForm):
    class Meta:
        model = Workflow
        fields = ("key", "name", "critical")

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
            item = step_as_api(form.instance)
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
class WorkflowAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    form = WorkflowForm
    inlines = [WorkflowStepInline]
    list_display = ("key", "name", "critical", "step_count", "route_count", "updated_at")
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
            return ("key", "name", "critical")
        return ("key", "name", "critical", "used_by_routes", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # The key is the workflow's identity in the API; it does not change.
        return ("key", "used_by_routes", "created_at", "updated_at") if obj else ()

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

    def save_model(self, request, obj, form, change):
        # Written in save_related, together with its steps, by the service the API uses.
        pass

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        steps_formset = next((fs for fs in formsets if fs.model is WorkflowStep), None)
        if steps_formset is not None:
            steps_formset.save(commit=False)  # fills new/changed/deleted_objects for the log
            steps = steps_formset.steps or []
        else:  # the user may not see the steps: they stay as they are
            steps = [step_as_api(step) for step in obj.steps.order_by("position")] if change else []
        if change:
            workflow = workflow_replace(
                workflow=obj, name=obj.name, critical=obj.critical, steps=steps
            )
        else:
            workflow = workflow_create(
                key=obj.key, name=obj.name, critical=obj.critical, steps=steps
            )
        obj.pk = workflow.pk
        obj.refresh_from_db()


# --- templates -------------------------------------------------------------------------------

# Columns of the A/B results, by the delivery's current status.
AB_STATUSES = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.OPENED,
    DeliveryStatus.CLICKED,
    DeliveryStatus.FAILED,
    DeliveryStatus.DEAD,
)
# A message in one of these states went out and was not bounced: the open rate's base.
REACHED_STATUSES = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.OPENED,
    DeliveryStatus.CLICKED,
)
OPENED_STATUSES = (DeliveryStatus.OPENED, DeliveryStatus.CLICKED)


class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ("key", "locale", "channel", "subject", "body", "cta_url")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The variants formset validates the template together with its variants and puts
        # template-level problems on this form's fields; in the admin it shares our instance.
        self.instance._admin_form = self

    def clean_key(self):
        key = self.cleaned_data["key"]
        key_validator(key)
        return key

    def clean_locale(self):
        locale = self.cleaned_data["locale"]
        locale_validator(locale)
        return locale

    def clean(self):
        cleaned = super().clean()
        key = cleaned.get("key", self.instance.key)
        locale = cleaned.get("locale", self.instance.locale)
        channel = cleaned.get("channel")
        if not (key and locale and channel):
            return cleaned
        others = sorted(
            set(
                Template.objects.filter(key=key)
                .exclude(locale=locale)
                .exclude(channel=channel)
                .values_list("channel", flat=True)
            )
        )
        if others:
            self.add_error(
                "channel",
                f"Template '{key}' exists in other locales for {', '.join(others)}; every "
                "locale of a key has the same channel.",
            )
            return cleaned
        user = (
            WorkflowStep.objects.filter(type=StepType.SEND, template_key=key)
            .exclude(channel=channel)
            .select_related("workflow")
            .order_by("workflow__key", "position")
            .first()
        )
        if user is not None:
            self.add_error(
                "channel",
                f"Workflow '{user.workflow.key}' (step {user.position}) sends '{key}' on "
                f"{user.channel}; change that workflow first.",
            )
        return cleaned


class TemplateVariantFormSet(forms.BaseInlineFormSet):
    """Validates the template with all its variants (syntax, names, required content)."""

    def clean(self):
        super().clean()
        template = self.instance  # the template form's instance, its cleaned fields applied
        rows = kept_forms(self)
        errors = template_errors(
            channel=template.channel,
            subject=template.subject,
            body=template.body,
            cta_url=template.cta_url,
            variants=[
                {
                    "name": form.instance.name,
                    "weight": form.instance.weight,
                    "subject": form.instance.subject,
                    "body": form.instance.body,
                }
                for form in rows
            ],
        )
        template_form = getattr(template, "_admin_form", None)
        general: list[str] = []
        for name, problems in errors.items():
            parts = name.split(".")
            if parts[0] == "variants":
                form, field = rows[int(parts[1])], parts[2]
                if field not in form.errors:
                    form.add_error(field, problems)
            elif template_form is not None:
                if name not in template_form.errors:
                    template_form.add_error(name, problems)
                general.append("Correct the template's errors above.")
            else:
                general.extend(f"{name}: {problem}" for problem in problems)
        if general:
            raise ValidationError(sorted(set(general)))


class TemplateVariantInline(admin.TabularInline):
    model = TemplateVariant
    formset = TemplateVariantFormSet
    fields = ("name", "weight", "subject", "body")
    extra = 0
    max_num = MAX_VARIANTS


@admin.register(Template, site=tenant_admin_site)
class TemplateAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    form = TemplateForm
    inlines = [TemplateVariantInline]
    list_display = ("key", "locale", "channel", "variant_count", "updated_at")
    list_filter = ("channel", "locale")
    search_fields = ("key", "subject")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(variant_total=Count("variants"))

    def get_fields(self, request, obj=None):
        fields = ("key", "locale", "channel", "subject", "body", "cta_url")
        return fields + (("ab_results", "created_at", "updated_at") if obj else ())

    def get_readonly_fields(self, request, obj=None):
        # Key and locale are the template's identity: workflows name the key.
        return ("key", "locale", "ab_results", "created_at", "updated_at") if obj else ()

    @admin.display(description="variants", ordering="variant_total")
    def variant_count(self, obj):
        return obj.variant_total

    @admin.display(description="A/B results")
    def ab_results(self, obj):
        """Deliveries of this key (all locales) by variant and current status, one query."""
        counts: dict[str, Counter] = defaultdict(Counter)
        rows = (
            Delivery.objects.filter(template_key=obj.key)
            .order_by()
            .values_list("variant", "status")
            .annotate(n=Count("id"))
        )
        for variant, status, n in rows:
            counts[variant][status] += n
        names = sorted({variant.name for variant in obj.variants.all()} | set(counts))
        if not names:
            return "No variants and no deliveries yet."

        def open_rate(counter: Counter) -> str:
            reached = sum(counter[status] for status in REACHED_STATUSES)
            if not reached:
                return "—"
            return f"{sum(counter[status] for status in OPENED_STATUSES) / reached:.1%}"

        header = format_html_join(
            "",
            "<th>{}</th>",
            (
                (label,)
                for label in (
                    "variant",
                    *(DeliveryStatus(status).label.lower() for status in AB_STATUSES),
                    "open rate",
                )
            ),
        )
        body = format_html_join(
            "",
            "<tr><td>{}</td>{}<td>{}</td></tr>",
            (
                (
                    name or "(no variant)",
                    format_html_join(
                        "", "<td>{}</td>", ((counts[name][status],) for status in AB_STATUSES)
                    ),
                    open_rate(counts[name]),
                )
                for name in names
            ),
        )
        return format_html(
            '<table class="ab-results"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
            "<p class=\"help\">Deliveries of '{}' in every locale, by their current status; "
            "the open rate is opened or clicked out of sent, delivered, opened and clicked.</p>",
            header,
            body,
            obj.key,
        )

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A workflow needs its templates' key in some locale: the last one cannot go.
        objs = list(objs)
        keys = {template.key for template in objs}
        remaining = set(
            Template.objects.filter(key__in=keys)
            .exclude(pk__in=[template.pk for template in objs])
            .values_list("key", flat=True)
        )
        users = (
            WorkflowStep.objects.filter(type=StepType.SEND, template_key__in=keys - remaining)
            .select_related("workflow")
            .order_by("workflow__key", "position")
        )
        protected = [
            *protected,
            *(
                f"Workflow '{step.workflow.key}' (step {step.position}) sends '{step.template_key}'"
                for step in users
            ),
        ]
        return deleted, model_count, perms_needed, protected

    def save_model(self, request, obj, form, change):
        # Written in save_related, together with its variants, by the service the API uses.
        pass

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        variants_formset = next((fs for fs in formsets if fs.model is TemplateVariant), None)
        if variants_formset is not None:
            variants_formset.save(commit=False)  # fills new/changed/deleted_objects for the log
            variants = [
                {
                    "name": row.instance.name,
                    "weight": row.instance.weight,
                    "subject": row.instance.subject,
                    "body": row.instance.body,
                }
                for row in kept_forms(variants_formset)
            ]
        else:  # the user may not see the variants: they stay as they are
            variants = (
                list(obj.variants.values("name", "weight", "subject", "body")) if change else []
            )
        content = {
            "key": obj.key,
            "locale": obj.locale,
            "channel": obj.channel,
            "subject": obj.subject,
            "body": obj.body,
            "cta_url": obj.cta_url,
            "variants": variants,
        }
        template = template_upsert(**content)[0] if change else template_create(**content)
        obj.pk = template.pk
        obj.refresh_from_db()


# --- integrations ----------------------------------------------------------------------------


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
class IntegrationAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    form = IntegrationForm
    list_display = ("name", "channel", "provider", "primary", "active", "has_credentials")
    list_filter = ("channel", "primary", "active")
    search_fields = ("name", "provider")
    readonly_fields = ("has_credentials", "created_at", "updated_at")

    def get_fields(self, request, obj=None):
        fields = ("channel", "provider", "name", "settings", "credentials", "primary", "active")
        return fields + (("has_credentials", "created_at", "updated_at") if obj else ())

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


# --- subscribers and topics ------------------------------------------------------------------


class SubscriberForm(forms.ModelForm):
    class Meta:
        model = Subscriber
        fields = (
            "subscriber_id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "locale",
            "timezone",
            "data",
        )
        help_texts = {"phone": "International format; stored as E.164, e.g. +14155550123."}

    def clean_email(self):
        # NULL, not '', means "no address": the channel is skipped.
        return (self.cleaned_data["email"] or "").strip() or None

    def clean_phone(self):
        phone = (self.cleaned_data["phone"] or "").strip()
        return normalize_phone(phone) if phone else None

    def clean_locale(self):
        return normalize_locale(self.cleaned_data["locale"])

    def clean_timezone(self):
        return validate_timezone(self.cleaned_data["timezone"])

    def clean_data(self):
        data = self.cleaned_data["data"]
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ValidationError("Enter a JSON object.")
        return data


class SubscriberTopicInline(admin.TabularInline):
    model = TopicSubscription
    fields = ("topic", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("topic",)
    extra = 0
    verbose_name = "topic membership"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("topic")


@admin.register(Subscriber, site=tenant_admin_site)
class SubscriberAdmin(admin.ModelAdmin):
    form = SubscriberForm
    inlines = [SubscriberTopicInline]
    list_display = ("subscriber_id", "email", "phone", "locale", "created_at")
    # Prefix matches: also what the topic membership autocomplete searches with.
    search_fields = ("^subscriber_id", "^email", "^phone")
    ordering = ("-created_at",)
    show_full_result_count = False
    readonly_fields = ("preferences", "credential_providers", "created_at", "updated_at")
    actions = ["erase_personal_data"]

    @admin.display(description="device and chat credentials")
    def credential_providers(self, obj):
        return ", ".join(sorted(obj.credentials or {})) or "none"

    def get_actions(self, request):
        # Erasure is the one bulk removal: it also scrubs the deliveries' history.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Erase personal data (GDPR)", permissions=["delete"])
    def erase_personal_data(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request,
                "admin/notifications/subscriber/erase_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Erase personal data?",
                    "opts": self.model._meta,
                    "subscribers": queryset.order_by("subscriber_id"),
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        erased = 0
        for subscriber in queryset.order_by("pk").iterator(chunk_size=500):
            subscriber_erase(subscriber=subscriber)
            erased += 1
        self.message_user(
            request,
            f"Erased {erased} subscriber(s): their memberships and in-app messages are gone, "
            "their deliveries kept anonymised.",
        )
        return None

    def delete_model(self, request, obj):
        subscriber_erase(subscriber=obj)

    def delete_queryset(self, request, queryset):
        for subscriber in queryset.iterator(chunk_size=500):
            subscriber_erase(subscriber=subscriber)


class TopicForm(forms.ModelForm):
    key = forms.CharField(
        max_length=100,
        validators=[
            RegexValidator(r"^[^/\s]+$", "Use a key without spaces or slashes, e.g. 'tenant-42'.")
        ],
    )

    class Meta:
        model = Topic
        fields = ("key", "name")


def topic_members(topic_ref) -> Subquery:
    """The number of members of a topic, as a subquery counted only for the rows shown."""
    return Subquery(
        TopicSubscription.objects.filter(topic=topic_ref)
        .order_by()
        .values("topic")
        .annotate(n=Count("pk"))
        .values("n")
    )


@admin.register(Topic, site=tenant_admin_site)
class TopicAdmin(admin.ModelAdmin):
    """Topics can hold millions of members: no inline, a link to their filtered list."""

    form = TopicForm
    list_display = ("key", "name", "member_count", "created_at")
    search_fields = ("key", "name")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(member_total=Coalesce(topic_members(OuterRef("pk")), 0))
        )

    def get_fields(self, request, obj=None):
        return ("key", "name") + (("members", "created_at", "updated_at") if obj else ())

    def get_readonly_fields(self, request, obj=None):
        return ("members", "created_at", "updated_at") if obj else ()

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total

    @admin.display(description="members")
    def members(self, obj):
        return format_html(
            '{} — <a href="{}">list them</a> · <a href="{}">add one</a>',
            obj.member_total,
            admin_url(TopicSubscription, "changelist", query=f"topic__id__exact={obj.pk}"),
            admin_url(TopicSubscription, "add", query=f"topic={obj.pk}"),
        )

    def get_deleted_objects(self, objs, request):
        # Members are counted, not listed one per line as the default page would.
        objs = list(objs)
        counts = dict(
            TopicSubscription.objects.filter(topic__in=objs)
            .order_by()
            .values_list("topic")
            .annotate(n=Count("pk"))
        )
        opts = TopicSubscription._meta
        perms_needed = set()
        if any(counts.values()) and not request.user.has_perm(
            f"{opts.app_label}.{get_permission_codename('delete', opts)}"
        ):
            perms_needed.add(opts.verbose_name)
        deleted = [
            format_html(
                'Topic: <a href="{}">{}</a> and its {} membership(s)',
                admin_url(Topic, "change", topic.pk),
                topic.key,
                counts.get(topic.pk, 0),
            )
            for topic in objs
        ]
        model_count = {
            Topic._meta.verbose_name_plural: len(objs),
            opts.verbose_name_plural: sum(counts.values()),
        }
        return deleted, model_count, perms_needed, []


@admin.register(TopicSubscription, site=tenant_admin_site)
class TopicSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("topic", "subscriber", "created_at")
    list_select_related = ("topic", "subscriber")
    autocomplete_fields = ("topic", "subscriber")
    search_fields = ("=topic__key", "=subscriber__subscriber_id")
    show_full_result_count = False
    readonly_fields = ("created_at",)


# --- notifications and deliveries (read-only) ------------------------------------------------


def as_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


@admin.register(Notification, site=tenant_admin_site)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = (
        "event",
        "status",
        "priority",
        "transaction_id",
        "created_at",
        "deliveries_link",
    )
    list_filter = ("status", "priority", "created_at")
    show_full_result_count = False
    search_fields = ("=event", "=transaction_id")
    search_help_text = "An event name, a transaction id or a notification id."
    fields = (
        "id",
        "event",
        "status",
        "priority",
        "route",
        "workflow",
        "transaction_id",
        "request_id",
        "broadcast",
        "recipients",
        "payload",
        "actor",
        "attempts",
        "last_error",
        "created_at",
        "dispatched_at",
        "processed_at",
        "deliveries",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        notification_id = as_uuid(search_term)
        if notification_id is not None:
            return queryset.filter(pk=notification_id), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="deliveries")
    def deliveries_link(self, obj):
        return format_html(
            '<a href="{}">deliveries</a>',
            admin_url(Delivery, "changelist", query=f"notification__id__exact={obj.pk}"),
        )

    @admin.display(description="deliveries")
    def deliveries(self, obj):
        stats = notification_stats(notification=obj)
        total = stats.pop("total")
        by_status = ", ".join(f"{status} {n}" for status, n in sorted(stats.items()))
        return format_html(
            '<a href="{}">{} deliveries</a>{}',
            admin_url(Delivery, "changelist", query=f"notification__id__exact={obj.pk}"),
            total,
            f" ({by_status})" if by_status else "",
        )


class ProviderFilter(admin.SimpleListFilter):
    """Providers known to the registry and the integrations: no DISTINCT over the deliveries."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        known = {"in_app", *Integration.objects.values_list("provider", flat=True).distinct()}
        for channel in Channel.values:
            known.update(key for key in providers_for(channel) if key != "anymail")
        return [(provider, provider) for provider in sorted(known)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(provider=self.value())
        return queryset


class DeliveryEventInline(admin.TabularInline):
    model = DeliveryEvent
    fields = (
        "created_at",
        "from_status",
        "status",
        "attempt",
        "provider",
        "error_class",
        "provider_response_code",
        "duration_ms",
        "detail",
    )
    readonly_fields = fields
    ordering = ("id",)
    extra = 0
    can_delete = False
    verbose_name = "history event"
    verbose_name_plural = "history"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Delivery, site=tenant_admin_site)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "notification_link",
        "subscriber_ref",
        "channel",
        "status",
        "attempts",
        "provider",
        "variant",
        "updated_at",
    )
    list_filter = ("status", "channel", "priority", ProviderFilter)
    list_select_related = ("notification",)
    show_full_result_count = False
    ordering = ("-id",)
    # Shows the search box; get_search_results decides what a term matches.
    search_fields = ("=subscriber_ref",)
    search_help_text = "A subscriber id, a notification id or a delivery id."
    inlines = [DeliveryEventInline]
    actions = ["replay"]
    fields = (
        "id",
        "notification",
        "subscriber",
        "subscriber_ref",
        "step_index",
        "channel",
        "template_key",
        "variant",
        "priority",
        "status",
        "attempts",
        "max_attempts",
        "provider",
        "integration",
        "provider_message_id",
        "last_error_class",
        "last_error",
        "next_attempt_at",
        "dispatched_at",
        "lease_until",
        "digest_key",
        "created_at",
        "updated_at",
        "sent_at",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        notification_id = as_uuid(term)
        if notification_id is not None:
            return queryset.filter(notification_id=notification_id), False
        # The subscriber's unique index, then the deliveries' subscriber index: no scan.
        matches = Q(subscriber__in=Subscriber.objects.filter(subscriber_id=term).values("pk"))
        if term.isdigit():
            matches |= Q(pk=int(term))
        return queryset.filter(matches), False

    @admin.display(description="notification")
    def notification_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            admin_url(Notification, "change", obj.notification_id),
            obj.notification.event,
        )

    def has_replay_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @admin.action(description="Replay selected dead or failed deliveries", permissions=["replay"])
    def replay(self, request, queryset):
        selected = queryset.order_by().values("pk")
        total = Delivery.objects.filter(pk__in=selected).count()
        replayed = deliveries_replay(queryset=Delivery.objects.filter(pk__in=selected))
        skipped = total - replayed
        message = f"Re-queued {replayed} deliver{'y' if replayed == 1 else 'ies'}."
        if skipped:
            message += f" Skipped {skipped}: not dead or failed (or being sent right now)."
        self.message_user(request, message, messages.SUCCESS if replayed else messages.WARNING)


class ReadFilter(admin.SimpleListFilter):
    title = "read"
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return [("yes", "Read"), ("no", "Unread")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(read_at__isnull=self.value() == "no")
        return queryset


@admin.register(InboxMessage, site=tenant_admin_site)
class InboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "subscriber", "title", "created_at", "seen_at", "read_at")
    list_filter = (ReadFilter,)
    list_select_related = ("subscriber",)
    search_fields = ("=subscriber__subscriber_id",)
    show_full_result_count = False
    fields = (
        "subscriber",
        "notification",
        "delivery",
        "title",
        "body",
        "cta_url",
        "created_at",
        "seen_at",
        "read_at",
    )
    readonly_fields = fields
