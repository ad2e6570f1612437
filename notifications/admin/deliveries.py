"""Notifications, deliveries with their history, and in-app messages: read-only.

The one write is replaying dead or failed deliveries.
"""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path
from django.utils.html import format_html, format_html_join

from connectors.registry import providers_for
from notifications.admin.common import ReadOnlyAdmin, ReadOnlyMixin, admin_url
from notifications.models import (
    Channel,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    InboxMessage,
    Integration,
    Notification,
    Subscriber,
)
from notifications.pipeline.replay import deliveries_replay
from notifications.pipeline.state import REPLAYABLE
from notifications.selectors.deliveries import notification_stats
from platform_core.admin_sites import tenant_admin_site


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
        """Its deliveries counted by status (one GROUP BY), each linking to them."""
        stats = notification_stats(notification=obj)
        total = stats.pop("total")
        base = f"notification__id__exact={obj.pk}"
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a></td></tr>',
            (
                (
                    DeliveryStatus(status).label,
                    admin_url(Delivery, "changelist", query=f"{base}&status__exact={status}"),
                    n,
                )
                for status, n in sorted(stats.items())
            ),
        )
        return format_html(
            '<table class="notification-stats"><tbody>{}<tr><th>Total</th>'
            '<th><a href="{}">{}</a></th></tr></tbody></table>',
            rows,
            admin_url(Delivery, "changelist", query=base),
            total,
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


class DeliveryEventInline(ReadOnlyMixin, admin.TabularInline):
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

    def get_urls(self):
        return [
            path(
                "<path:object_id>/replay/",
                self.admin_site.admin_view(self.replay_view),
                name="notifications_delivery_replay",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        delivery = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "replayable": delivery is not None
            and delivery.status in REPLAYABLE
            and self.has_replay_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def replay_view(self, request, object_id):
        """The detail page's Replay button: this one delivery, through the replay service."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_replay_permission(request):
            raise PermissionDenied
        delivery = self.get_object(request, object_id)
        if delivery is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if deliveries_replay(delivery_ids=[delivery.pk]):
            self.message_user(request, f"Delivery {delivery.pk} re-queued.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                f"Delivery {delivery.pk} was not replayed: it is {delivery.status}, not dead or "
                "failed (or it is being sent right now).",
                messages.WARNING,
            )
        return HttpResponseRedirect(admin_url(Delivery, "change", delivery.pk))

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
