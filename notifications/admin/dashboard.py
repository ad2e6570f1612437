"""The tenant admin's index: deliveries by channel and status, problems, queues, recent events.

Each figure is one indexed aggregate (notifications.selectors.dashboard); the charts are
drawn by Chart.js (vendored in static/clarion/vendor) from the JSON the page embeds.
"""

from __future__ import annotations

from typing import Any

from django.templatetags.static import static

from notifications.admin.common import admin_url
from notifications.models import Channel, Delivery, DeliveryStatus, Notification, Priority
from notifications.selectors.dashboard import (
    PROBLEM_STATUSES,
    DeliveryCounts,
    dashboard_delivery_counts,
    dashboard_problems,
    dashboard_recent_notifications,
)
from notifications.selectors.deliveries import queue_stats
from platform_core.admin_sites import tenant_admin_site

# Chart colours per status: greens went out, ambers wait, reds need an operator.
STATUS_COLOURS = {
    DeliveryStatus.PENDING: "#c7c7c7",
    DeliveryStatus.QUEUED: "#9ecae1",
    DeliveryStatus.SENDING: "#4292c6",
    DeliveryStatus.SENT: "#74c476",
    DeliveryStatus.DELIVERED: "#41ab5d",
    DeliveryStatus.OPENED: "#238b45",
    DeliveryStatus.CLICKED: "#005a32",
    DeliveryStatus.FAILED: "#fd8d3c",
    DeliveryStatus.BOUNCED: "#a63603",
    DeliveryStatus.DEAD: "#cb181d",
    DeliveryStatus.SKIPPED: "#bcbddc",
    DeliveryStatus.DIGESTED: "#807dba",
}


def chart_data(counts: DeliveryCounts) -> dict[str, Any]:
    """A stacked bar chart's data: one bar per channel, one dataset per status that occurs."""
    channels = list(Channel.values)
    statuses = [
        status
        for status in DeliveryStatus.values
        if any(counts.counts.get(channel, {}).get(status) for channel in channels)
    ]
    return {
        "labels": [Channel(channel).label for channel in channels],
        "channels": channels,
        "total": counts.total,
        "datasets": [
            {
                "label": DeliveryStatus(status).label,
                "status": status,
                "data": [counts.counts.get(channel, {}).get(status, 0) for channel in channels],
                "backgroundColor": STATUS_COLOURS[status],
            }
            for status in statuses
        ],
    }


def dashboard(request) -> dict[str, Any]:
    """The index page's context."""
    day, week = dashboard_delivery_counts()
    problems = [
        {
            "channel": Channel(channel).label,
            "counts": [
                {
                    "status": DeliveryStatus(status).label,
                    "n": by_status.get(status, 0),
                    "url": admin_url(
                        Delivery,
                        "changelist",
                        query=f"status__exact={status}&channel__exact={channel}",
                    ),
                }
                for status in PROBLEM_STATUSES
            ],
        }
        for channel, by_status in dashboard_problems().items()
    ]
    queues = queue_stats(completed=False)
    return {
        "dashboard_charts": {"day": chart_data(day), "week": chart_data(week)},
        "dashboard_problems": problems,
        "dashboard_queues": [
            {"name": Priority(priority).label, **queues[priority]} for priority in Priority.values
        ],
        "dashboard_recent": [
            {
                "notification": notification,
                "url": admin_url(Notification, "change", notification.pk),
                "deliveries_url": admin_url(
                    Delivery, "changelist", query=f"notification__id__exact={notification.pk}"
                ),
            }
            for notification in dashboard_recent_notifications()
        ],
        "dashboard_notifications_url": admin_url(Notification, "changelist"),
        "chart_js": static("clarion/vendor/chart-4.6.1.umd.min.js"),
    }


tenant_admin_site.dashboard = dashboard
