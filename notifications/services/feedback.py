"""Writes of delivery feedback told outwards: tenants' webhook endpoints, and one-click
unsubscribes from email."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.base import destination_error, is_http_url
from notifications.models import WEBHOOK_EVENTS, Subscriber, WebhookEndpoint
from notifications.pipeline.feedback.unsubscribe import unsubscribe_token_read
from platform_core.errors import ApplicationError, ErrorKind, validation_error

Fields = dict[str, list[str]]
URL_MAX_LENGTH = 2000
MAX_ENDPOINTS = 50
NOT_PUBLIC = "Not allowed: this host is, or resolves to, a private, loopback or link-local address."


def webhook_secret_new() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _errors(*, url: Any = None, events: Any = None) -> Fields:
    errors: Fields = {}
    if url is not None:
        if not is_http_url(url) or len(url) > URL_MAX_LENGTH:
            errors["url"] = [f"Enter an http(s) URL of at most {URL_MAX_LENGTH} characters."]
        elif destination_error(url):
            errors["url"] = [NOT_PUBLIC]
    if events is not None:
        unknown = sorted({str(e) for e in events} - set(WEBHOOK_EVENTS))
        if not events:
            errors["events"] = ["Name at least one event."]
        elif unknown:
            errors["events"] = [
                f"Unknown event {name!r}; one of: {', '.join(WEBHOOK_EVENTS)}." for name in unknown
            ]
    return errors


def webhook_endpoint_create(
    *, url: str, events: list[str], active: bool = True
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned this once, stored encrypted)."""
    if errors := _errors(url=url, events=events):
        raise validation_error(errors)
    if WebhookEndpoint.objects.count() >= MAX_ENDPOINTS:
        raise ApplicationError(
            "too_many_endpoints",
            f"A tenant may have at most {MAX_ENDPOINTS} webhook endpoints.",
            kind=ErrorKind.CONFLICT,
        )
    secret = webhook_secret_new()
    endpoint = WebhookEndpoint(url=url, events=sorted(set(events)), active=active)
    endpoint.secret = secret
    endpoint.save()
    return endpoint, secret


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint; turning it on again clears its failure record."""
    if errors := _errors(url=url, events=events):
        raise validation_error(errors)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if url is not None:
            endpoint.url = url
        if events is not None:
            endpoint.events = sorted(set(events))
        if active is not None:
            if active and not endpoint.active:
                endpoint.failing_since = None
                endpoint.disabled_reason = ""
            endpoint.active = active
        endpoint.updated_at = timezone.now()
        endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint with its messages and attempts."""
    endpoint.delete()


def subscriber_unsubscribe(*, token: str) -> tuple[Subscriber, str, str] | None:
    """Turn off the preference a one-click unsubscribe token names (its workflow and channel).

    Returns (subscriber, workflow key, channel), or None when the token does not verify or
    its subscriber is gone. Repeating it changes nothing more.
    """
    target = unsubscribe_token_read(token)
    if target is None:
        return None
    with transaction.atomic():
        subscriber = (
            Subscriber.objects.select_for_update()
            .filter(subscriber_id=target.subscriber_id)
            .first()
        )
        if subscriber is None:
            return None
        preferences = dict(subscriber.preferences or {})
        workflows = dict(preferences.get("workflows") or {})
        flags = dict(workflows.get(target.workflow_key) or {})
        if flags.get(target.channel) is not False:
            flags[target.channel] = False
            workflows[target.workflow_key] = flags
            preferences["workflows"] = workflows
            preferences.setdefault("channels", {})
            subscriber.preferences = preferences
            subscriber.save(update_fields=["preferences", "updated_at"])
    return subscriber, target.workflow_key, target.channel


def unsubscribe_target(*, token: str):
    """What a token names (subscriber id, workflow, channel), or None if forged."""
    return unsubscribe_token_read(token)
