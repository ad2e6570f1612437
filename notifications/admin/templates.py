"""Templates, with their A/B variants and the variants' results.

Written through the services the API uses, variants included, with the services'
problems shown on the form fields.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path
from django.utils.html import format_html, format_html_join

from notifications.admin.common import (
    SavedWithInlinesMixin,
    ServiceErrorsMixin,
    admin_url,
    inline_formset,
    kept_forms,
)
from notifications.models import (
    Delivery,
    DeliveryStatus,
    StepType,
    Template,
    TemplateVariant,
    WorkflowStep,
)
from notifications.rendering import template_errors
from notifications.services.config import (
    MAX_VARIANTS,
    key_validator,
    locale_validator,
    template_create,
    template_upsert,
)
from notifications.services.testsend import template_send_test
from platform_core.admin_sites import tenant_admin_site
from platform_core.errors import ApplicationError

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


def variant_as_api(variant: TemplateVariant) -> dict[str, Any]:
    """A variant row in the API's format."""
    return {
        "name": variant.name,
        "weight": variant.weight,
        "subject": variant.subject,
        "body": variant.body,
    }


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
            variants=[variant_as_api(form.instance) for form in rows],
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


class TemplateVariantForm(forms.ModelForm):
    class Meta:
        model = TemplateVariant
        fields = ("name", "weight", "subject", "body")
        widgets = {
            "subject": forms.Textarea(attrs={"rows": 1, "class": "vLargeTextField"}),
            "body": forms.Textarea(attrs={"rows": 6, "class": "vLargeTextField"}),
        }
        help_texts = {
            "weight": "Relative share of subscribers; the template itself is the control.",
            "subject": "Blank: the template's subject.",
            "body": "Blank: the template's body.",
        }


class TemplateVariantInline(admin.StackedInline):
    """Variants stacked one below the other: long bodies get the page's width, not a column."""

    model = TemplateVariant
    form = TemplateVariantForm
    formset = TemplateVariantFormSet
    fields = (("name", "weight"), "subject", "body")
    classes = ("clarion-variants",)
    extra = 0
    max_num = MAX_VARIANTS


@admin.register(Template, site=tenant_admin_site)
class TemplateAdmin(ServiceErrorsMixin, SavedWithInlinesMixin, admin.ModelAdmin):
    form = TemplateForm
    inlines = [TemplateVariantInline]
    list_display = ("key", "locale", "channel", "variant_count", "updated_at")
    list_filter = ("channel", "locale")
    search_fields = ("key", "subject")
    change_form_template = "admin/notifications/template/change_form.html"

    # --- send a test -----------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/send-test/",
                self.admin_site.admin_view(self.send_test_view),
                name="notifications_template_send_test",
            ),
            *super().get_urls(),
        ]

    def has_send_test_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        template = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "send_test_allowed": template is not None
            and template.channel != "in_app"
            and self.has_send_test_permission(request),
            "send_test_variants": list(template.variants.values_list("name", flat=True))
            if template is not None
            else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def send_test_view(self, request, object_id):
        """Render the saved template (or a variant) and send it through the channel's
        integration to one address or subscriber."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_send_test_permission(request):
            raise PermissionDenied
        template = self.get_object(request, object_id)
        if template is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        to = request.POST.get("to", "")
        variant = request.POST.get("variant", "")
        try:
            payload = json.loads(request.POST.get("payload") or "{}")
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            self.message_user(
                request, "Test not sent: the payload must be a JSON object.", messages.ERROR
            )
            return HttpResponseRedirect(admin_url(Template, "change", template.pk))
        try:
            integration, _result = template_send_test(
                template=template, to=to, variant=variant, payload=payload
            )
        except ApplicationError as exc:
            detail = " ".join(m for ms in (exc.fields or {}).values() for m in ms)
            self.message_user(request, f"Test not sent: {detail or exc.message}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"Test of '{template.key}' ({variant or 'control'}) sent to {to} through "
                f"'{integration.name}'.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(admin_url(Template, "change", template.pk))

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

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        variants_formset = inline_formset(formsets, TemplateVariant)
        if variants_formset is not None:
            variants = [variant_as_api(row.instance) for row in kept_forms(variants_formset)]
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
