"""Delivery feedback: provider webhooks, tracked clicks and opens, suppressions."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection, transaction

from connectors.feedback import WebhookMalformed, WebhookNotConfigured, WebhookRefused
from connectors.registry import UnknownProvider, get_connector_class
from notifications.models import Integration, Suppression
from notifications.pipeline.feedback.provider import (
    FeedbackResult,
    feedback_apply,
    tracked_click,
    tracked_open,
)
from notifications.rendering.tracking import click_token_read, open_token_read
from platform_core.errors import ApplicationError, ErrorKind

logger = logging.getLogger(__name__)


def _not_found(message: str) -> ApplicationError:
    return ApplicationError("not_found", message, kind=ErrorKind.NOT_FOUND)


def integration_webhook_receive(*, integration_id: int, request: Any, url: str) -> FeedbackResult:
    """Authenticate one provider callback with the integration's own secrets and apply its
    events to the deliveries it sent.

    401 `invalid_signature` (or `webhook_not_configured`) when the signature or credentials
    do not check out, and nothing changes; events for unknown message ids are ignored.
    """
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        raise _not_found(f"No integration {integration_id}.")
    try:
        connector = get_connector_class(integration.provider)
    except UnknownProvider:
        connector = None
    if connector is None or not connector.receives_webhooks:
        raise _not_found(
            f"Integration {integration_id} ({integration.provider}) takes no webhooks."
        )
    try:
        events = connector.webhook_events(
            request, settings=integration.settings, credentials=integration.credentials, url=url
        )
    except WebhookNotConfigured as exc:
        raise ApplicationError(
            "webhook_not_configured",
            f"Integration {integration_id} cannot authenticate its webhooks: {exc}.",
            kind=ErrorKind.UNAUTHENTICATED,
        ) from None
    except WebhookRefused:
        raise ApplicationError(
            "invalid_signature",
            "The webhook's signature or credentials are missing or invalid.",
            kind=ErrorKind.UNAUTHENTICATED,
        ) from None
    except WebhookMalformed as exc:
        raise ApplicationError(
            "malformed_webhook", f"The webhook could not be read: {exc}.", kind=ErrorKind.VALIDATION
        ) from None
    with transaction.atomic():
        result = feedback_apply(integration=integration, events=events)
    logger.info(
        "provider webhook",
        extra={
            "integration_id": integration.pk,
            "provider": integration.provider,
            "received": result.received,
            "matched": result.matched,
            "recorded": result.recorded,
            "suppressed": result.suppressed,
        },
    )
    return result


def tracking_click(*, token: str) -> str:
    """The original URL of a tracked link; its delivery becomes `clicked`. 404 if forged."""
    found = click_token_read(token, schema=connection.schema_name)
    if found is None:
        raise _not_found("No such link.")
    delivery_id, url = found
    tracked_click(delivery_id=delivery_id, url=url)
    return url


def tracking_open(*, token: str) -> None:
    """The open pixel of an email was loaded: its delivery becomes `opened`. 404 if forged."""
    delivery_id = open_token_read(token, schema=connection.schema_name)
    if delivery_id is None:
        raise _not_found("No such image.")
    tracked_open(delivery_id=delivery_id)


def suppression_delete(*, suppression_id: int) -> None:
    """Lift a suppression: the address may be sent to again. 404 if there is none."""
    deleted, _ = Suppression.objects.filter(pk=suppression_id).delete()
    if not deleted:
        raise _not_found(f"No suppression {suppression_id}.")
