"""Templates, with their A/B variants and the variants' results.

Written through the services the API uses, variants included, with the services'
problems shown on the form fields.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html, format_html_join

from notifications.admin.common import (
    AuditHistoryMixin,
    SavedWithInlinesMixin,
    ServiceErrorsMixin,
    admin_url,
    inline_formset,
    kept_forms,
)
from notifications.models import (
    StepType,
    Template,
    TemplateFormat,
    TemplateVariant,
    WorkflowStep,
)
from notifications.rendering import template_errors
from notifications.selectors.feedback import template_ab_results
from notifications.selectors.preview import CONTROL, template_preview
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

_CHART_WIDTH = 420
_BAR_AREA = 300
_ROW = 26


def _p_value(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _click_rate_chart(variants: list[dict]) -> str:
    """An inline SVG bar chart of each variant's click rate, its 95% interval as a whisker."""
    top = max([row["click_rate_ci"][1] for row in variants] + [0.01])
    scale = _BAR_AREA / top
    height = _ROW * len(variants) + 8
    bars = format_html_join(
        "",
        '<text x="0" y="{}" font-size="12">{}</text>'
        '<rect x="100" y="{}" width="{}" height="14" fill="#417690"></rect>'
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#222" stroke-width="1.5"></line>'
        '<text x="{}" y="{}" font-size="11">{}</text>',
        (
            (
                i * _ROW + 15,
                row["name"][:14],
                i * _ROW + 4,
                round((row["click_rate"] or 0) * scale, 1),
                round(100 + row["click_rate_ci"][0] * scale, 1),
                round(100 + row["click_rate_ci"][1] * scale, 1),
                i * _ROW + 11,
                i * _ROW + 11,
                round(106 + row["click_rate_ci"][1] * scale, 1),
                i * _ROW + 15,
                "—" if row["click_rate"] is None else f"{row['click_rate']:.1%}",
            )
            for i, row in enumerate(variants)
        ),
    )
    return format_html(
        '<svg class="ab-chart" role="img" aria-label="Click rate by variant, with 95% '
        'intervals" width="{}" height="{}" viewBox="0 0 {} {}">{}</svg>',
        _CHART_WIDTH + 60,
        height,
        _CHART_WIDTH + 60,
        height,
        bars,
    )


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
        fields = ("key", "locale", "channel", "format", "subject", "body", "cta_url")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The variants formset validates the template together with its variants and puts
        # template-level problems on this form's fields; in the admin it shares our instance.
        self.instance._admin_form = self
        # Forms posted without it (scripts, older pages) keep the default.
        if "format" in self.fields:
            self.fields["format"].required = False

    def clean_format(self):
        return self.cleaned_data.get("format") or TemplateFormat.HTML

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
            format=template.format,
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


class TemplatePreviewForm(forms.Form):
    subscriber_id = forms.CharField(
        required=False, max_length=255, help_text="A stored subscriber; empty: nobody."
    )
    variant = forms.ChoiceField(required=False)
    locale = forms.CharField(
        required=False, max_length=35, help_text="Empty: the subscriber's, else this template's."
    )
    payload = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text='The event\'s payload, a JSON object: {"order_id": "A-1"}.',
    )
    actor = forms.CharField(required=False, max_length=255, help_text="A subscriber id.")

    def __init__(self, *args, variants: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["variant"].choices = [
            ("", "the one the subscriber gets"),
            (CONTROL, "control (the template itself)"),
            *((name, name) for name in variants),
        ]

    def clean_payload(self):
        payload = self.cleaned_data["payload"]
        if payload is not None and not isinstance(payload, dict):
            raise ValidationError("Give a JSON object.")
        return payload


@admin.register(Template, site=tenant_admin_site)
class TemplateAdmin(AuditHistoryMixin, ServiceErrorsMixin, SavedWithInlinesMixin, admin.ModelAdmin):
    form = TemplateForm
    inlines = [TemplateVariantInline]
    list_display = ("key", "locale", "channel", "variant_count", "updated_at")
    list_filter = ("channel", "locale")
    search_fields = ("key", "subject")
    change_form_template = "admin/notifications/template/change_form.html"

    # --- send a test -----------------------------------------------------------------------

    def get_urls(self):
        opts = self.model._meta
        preview = f"{opts.app_label}_{opts.model_name}_preview"
        return [
            path(
                "<path:object_id>/send-test/",
                self.admin_site.admin_view(self.send_test_view),
                name="notifications_template_send_test",
            ),
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name=preview,
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
        fields = ("key", "locale", "channel", "format", "subject", "body", "cta_url")
        return fields + (("preview", "ab_results", "created_at", "updated_at") if obj else ())

    def get_readonly_fields(self, request, obj=None):
        # Key and locale are the template's identity: workflows name the key.
        readonly = ("key", "locale", "preview", "ab_results", "created_at", "updated_at")
        return readonly if obj else ()

    @admin.display(description="preview")
    def preview(self, obj):
        return format_html(
            '<a href="{}">Preview this template</a> for a subscriber, a variant and a payload.',
            admin_url(Template, "preview", obj.pk),
        )

    def preview_view(self, request, object_id):
        """The template rendered as a send would render it (`template_preview`)."""
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        form = TemplatePreviewForm(
            request.POST or None, variants=[v.name for v in obj.variants.all()]
        )
        shown, problem = None, None
        if form.is_valid():
            data = form.cleaned_data
            try:
                shown = template_preview(
                    key=obj.key,
                    payload=data["payload"] or {},
                    subscriber=data["subscriber_id"] or None,
                    actor=data["actor"] or None,
                    locale=data["locale"] or obj.locale,
                    variant=data["variant"] or None,
                )
            except ApplicationError as exc:
                problem = exc.message
                for field, messages in (exc.fields or {}).items():
                    if field in form.fields:
                        form.add_error(field, messages)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {obj}",
            "subtitle": None,
            "object": obj,
            "opts": self.model._meta,
            "form": form,
            "preview": shown,
            "problem": problem,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/notifications/template_preview.html", context)

    @admin.display(description="variants", ordering="variant_total")
    def variant_count(self, obj):
        return obj.variant_total

    @admin.display(description="A/B results")
    def ab_results(self, obj):
        """The template's A/B results (as `GET /templates/{key}/results`): a bar chart of the
        click rates with their 95% intervals, and the table. One query."""
        results = template_ab_results(template=obj)
        variants = results["variants"]

        def percent(value) -> str:
            return "—" if value is None else f"{value:.1%}"

        header = format_html_join(
            "",
            "<th>{}</th>",
            (
                (label,)
                for label in (
                    "variant",
                    "sent",
                    "delivered",
                    "opened",
                    "clicked",
                    "click rate (95% CI)",
                    "open rate",
                    "p vs control",
                )
            ),
        )
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    row["name"],
                    row["sent"],
                    row["delivered"],
                    row["opened"],
                    row["clicked"],
                    f"{percent(row['click_rate'])} "
                    f"[{percent(row['click_rate_ci'][0])}, {percent(row['click_rate_ci'][1])}]"
                    if row["sent"]
                    else "—",
                    percent(row["open_rate"]),
                    "—"
                    if row["p_value_vs_control"] is None
                    else f"{row['p_value_vs_control']:.4f}",
                )
                for row in variants
            ),
        )
        winner = results["winner"]
        verdict = (
            format_html("Winner: <strong>{}</strong> (significant at 95%).", winner)
            if winner
            else "No winner yet: no variant beats control's click rate at 95% significance."
        )
        return format_html(
            "{}"
            '<table class="ab-results"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
            '<p class="help">{} Sent counts deliveries that reached sent or any later status; '
            "opened includes clicked. Deliveries of '{}' in every locale; the base template "
            "and a variant named <code>control</code> are the control.</p>",
            _click_rate_chart(variants),
            header,
            body,
            verdict,
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
            "format": obj.format,
            "variants": variants,
        }
        template = template_upsert(**content)[0] if change else template_create(**content)
        obj.pk = template.pk
        obj.refresh_from_db()
