"""Subscribers, topics and topic memberships.

Removing a subscriber erases its personal data (GDPR) the way the API does. Topics can hold
millions of members: their pages count members rather than list them.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.utils.html import format_html

from notifications.admin.common import admin_url
from notifications.models import Subscriber, Topic, TopicSubscription
from notifications.services.ids import id_normalize, subscriber_id_validator, topic_key_validator
from notifications.services.subscribers import (
    normalize_locale,
    normalize_phone,
    normalize_window,
    subscriber_erase,
    validate_timezone,
)
from platform_core.admin_sites import tenant_admin_site


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
            "quiet_hours",
            "data",
        )
        help_texts = {"phone": "International format; stored as E.164, e.g. +14155550123."}

    def clean_subscriber_id(self):
        # The id rule holds for new subscribers; one stored before it stays editable.
        subscriber_id = id_normalize(self.cleaned_data["subscriber_id"])
        if self.instance.pk is None or subscriber_id != self.instance.subscriber_id:
            subscriber_id_validator(subscriber_id)
        return subscriber_id

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

    def clean_quiet_hours(self):
        return normalize_window(self.cleaned_data["quiet_hours"])

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
    key = forms.CharField(max_length=100)

    class Meta:
        model = Topic
        fields = ("key", "name")

    def clean_key(self):
        key = id_normalize(self.cleaned_data["key"])
        if self.instance.pk is None or key != self.instance.key:
            topic_key_validator(key)
        return key


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
