"""Reads of subscribers."""

from __future__ import annotations

from django.db.models import QuerySet

from notifications.models import Subscriber


def subscriber_get(*, subscriber_id: str) -> Subscriber | None:
    """The subscriber with this id, or None."""
    return Subscriber.objects.filter(subscriber_id=subscriber_id).first()


def subscriber_list(*, email: str | None = None) -> QuerySet[Subscriber]:
    """Subscribers, optionally only those with this email (case-insensitive)."""
    queryset = Subscriber.objects.all()
    if email:
        queryset = queryset.filter(email__iexact=email)
    return queryset


def subscriber_preferences(*, subscriber: Subscriber) -> dict:
    """The subscriber's preferences, with both sections present."""
    preferences = subscriber.preferences or {}
    return {
        "channels": dict(preferences.get("channels") or {}),
        "workflows": dict(preferences.get("workflows") or {}),
    }
