"""Reads of delivery feedback: webhook endpoints and their attempts, A/B results, analytics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from notifications.models import (
    Delivery,
    DeliveryStatus,
    Template,
    WebhookAttempt,
    WebhookEndpoint,
)
from notifications.pipeline.state import DELIVERY_TABLE, NOTIFICATION_TABLE
from notifications.rendering.selection import select_template
from platform_core.errors import ApplicationError, validation_error

S = DeliveryStatus
CONTROL = "control"
# "Sent" is every delivery that reached sent or any later status; a later status implies
# the earlier ones (a click means it was opened, an open that it was delivered).
SENT_OR_LATER = (S.SENT, S.DELIVERED, S.OPENED, S.CLICKED, S.BOUNCED)
DELIVERED_OR_LATER = (S.DELIVERED, S.OPENED, S.CLICKED)
OPENED_OR_LATER = (S.OPENED, S.CLICKED)
Z_95 = 1.959963984540054


def webhook_endpoint_list():
    return WebhookEndpoint.objects.all()


def webhook_endpoint_get(*, endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(pk=endpoint_id).first()


def webhook_attempt_list(*, endpoint: WebhookEndpoint):
    """An endpoint's attempts, newest first, with the message each posted."""
    return WebhookAttempt.objects.filter(endpoint=endpoint).select_related("message")


# --- A/B results ----------------------------------------------------------------------------


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); (0, 0) with no trials."""
    if trials <= 0:
        return (0.0, 0.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - margin), min(1.0, centre + margin))


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None when undefined."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class VariantResult:
    name: str
    sent: int
    delivered: int
    opened: int
    clicked: int

    def as_dict(self, control: VariantResult | None) -> dict:
        lo, hi = wilson_interval(self.clicked, self.sent)
        p_value = None
        if control is not None and self.name != CONTROL:
            p_value = two_proportion_p_value(self.clicked, self.sent, control.clicked, control.sent)
        return {
            "name": self.name,
            "sent": self.sent,
            "delivered": self.delivered,
            "opened": self.opened,
            "clicked": self.clicked,
            "click_rate": _rate(self.clicked, self.sent),
            "click_rate_ci": [round(lo, 6), round(hi, 6)],
            "open_rate": _rate(self.opened, self.sent),
            "p_value_vs_control": None if p_value is None else round(p_value, 6),
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def template_for_results(*, key: str, locale: str | None) -> Template | None:
    """The template (with its variants) whose results are asked for: the locale given,
    else the one a subscriber of the default locale gets."""
    templates = list(Template.objects.filter(key=key).prefetch_related("variants"))
    if locale:
        return next((t for t in templates if t.locale.lower() == locale.lower()), None)
    return select_template(templates, settings.CLARION_DEFAULT_LOCALE)


def template_ab_results(*, template: Template) -> dict:
    """Per variant (the base template is `control`): counts, click rate with its 95% Wilson
    interval, open rate, the p-value of its click rate against control's (two-proportion
    z-test), and the `winner`: the variant whose click rate beats control's at p < 0.05
    (the best such), else null.

    Deliveries record the variant's name, not the template's locale: the counts are those
    of every delivery of the key with that variant name. Deliveries of the base template and
    of a variant named `control` count as control. One aggregate query.
    """
    rows = (
        Delivery.objects.filter(template_key=template.key)
        .order_by()
        .values_list("variant")
        .annotate(
            sent=Count("id", filter=Q(status__in=SENT_OR_LATER)),
            delivered=Count("id", filter=Q(status__in=DELIVERED_OR_LATER)),
            opened=Count("id", filter=Q(status__in=OPENED_OR_LATER)),
            clicked=Count("id", filter=Q(status=S.CLICKED)),
        )
    )
    counts: dict[str, tuple[int, int, int, int]] = {}
    for variant, *numbers in rows:
        # The base template, and a variant named `control` (a tenant's way of giving the
        # control a share of the traffic by weight), are both the control.
        name = variant or CONTROL
        before = counts.get(name, (0, 0, 0, 0))
        counts[name] = tuple(a + b for a, b in zip(before, numbers, strict=True))
    names = [CONTROL] + [v.name for v in template.variants.all() if v.name != CONTROL]
    results = [VariantResult(name, *counts.get(name, (0, 0, 0, 0))) for name in names]
    control = results[0]
    variants = [result.as_dict(control) for result in results]
    winner = None
    best = None
    for result, shown in zip(results[1:], variants[1:], strict=True):
        p_value = shown["p_value_vs_control"]
        if p_value is None or p_value >= 0.05 or not result.sent or not control.sent:
            continue
        if result.clicked / result.sent <= control.clicked / control.sent:
            continue
        if best is None or result.clicked / result.sent > best:
            winner, best = result.name, result.clicked / result.sent
    return {"variants": variants, "winner": winner}


# --- analytics ------------------------------------------------------------------------------

GROUPS = ("day", "hour", "channel", "event", "status")
MAX_RANGE = {"day": timedelta(days=366), "hour": timedelta(days=31), None: timedelta(days=366)}
DEFAULT_RANGE = timedelta(days=7)
_COLUMNS = {
    "day": "date_trunc('day', d.created_at AT TIME ZONE 'UTC')",
    "hour": "date_trunc('hour', d.created_at AT TIME ZONE 'UTC')",
    "channel": "d.channel",
    "event": "n.event",
    "status": "d.status",
}


def _parse_time(value: str, name: str) -> datetime:
    value = value.strip()
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is not None:
                parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    if parsed is None:
        raise validation_error(
            {name: ["Enter an ISO-8601 date or date-time, e.g. 2026-12-01 or 2026-12-01T09:00Z."]}
        )
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def analytics_query_parse(*, start: str | None, end: str | None, group_by: str | None):
    """Validated (from, to, groups) of an analytics request; 400 naming each bad field."""
    errors: dict[str, list[str]] = {}
    groups: list[str] = []
    raw = (group_by or "day").split(",")
    for part in raw:
        name = part.strip()
        if name not in GROUPS:
            errors.setdefault("group_by", []).append(
                f"Unknown grouping {name[:40]!r}; use some of: {', '.join(GROUPS)}."
            )
        elif name in groups:
            errors.setdefault("group_by", []).append(f"{name!r} is named twice.")
        else:
            groups.append(name)
    if "day" in groups and "hour" in groups:
        errors.setdefault("group_by", []).append("Group by day or by hour, not both.")
    now = timezone.now()
    try:
        to = _parse_time(end, "to") if end else now
    except ApplicationError as exc:  # collected with the other fields
        errors.update(exc.fields or {})
        to = now
    try:
        since = _parse_time(start, "from") if start else to - DEFAULT_RANGE
    except ApplicationError as exc:
        errors.update(exc.fields or {})
        since = to - DEFAULT_RANGE
    if not errors:
        period = "hour" if "hour" in groups else ("day" if "day" in groups else None)
        if since >= to:
            errors["from"] = ["Must be before 'to'."]
        elif to - since > MAX_RANGE[period]:
            days = MAX_RANGE[period].days
            errors["from"] = [f"The range may span at most {days} days when grouping this way."]
    if errors:
        raise validation_error(errors)
    return since, to, groups


def _shown(name: str, value):
    if name == "day":
        return value.date().isoformat()
    if name == "hour":
        return value.strftime("%Y-%m-%dT%H:00:00Z")
    return value


def delivery_analytics(*, since: datetime, until: datetime, groups: list[str]) -> list[dict]:
    """Deliveries created in [since, until) counted per group; one GROUP BY over the
    `delivery_created_idx` index (the event from the notification's primary key)."""
    columns = [_COLUMNS[name] for name in groups]
    join = f"JOIN {NOTIFICATION_TABLE} n ON n.id = d.notification_id" if "event" in groups else ""
    select = ", ".join([*columns, "count(*)"])
    positions = ", ".join(str(i + 1) for i in range(len(columns)))
    group = f"GROUP BY {positions} ORDER BY {positions}" if columns else ""
    with connection.cursor() as sql:
        sql.execute(
            f"""
            SELECT {select} FROM {DELIVERY_TABLE} d {join}
            WHERE d.created_at >= %(since)s AND d.created_at < %(until)s
            {group}
            """,
            {"since": since, "until": until},
        )
        rows = sql.fetchall()
    return [
        {**{name: _shown(name, row[i]) for i, name in enumerate(groups)}, "count": row[-1]}
        for row in rows
    ]
