"""Test sends from the admin: one message through a real connector, now, recording nothing.

A test send is for the operator who just configured an integration or wrote a template: it
calls the provider exactly as a delivery would (the same connector, settings, credentials
and rendering), synchronously, and reports the provider's answer or its error.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from connectors.base import ConfigError, ConnectorError, Recipient, RenderedMessage, SendResult
from connectors.registry import UnknownProvider, build_connector, get_connector_class
from notifications.models import Channel, Integration, Subscriber, Template
from notifications.pipeline.sending.providers import (
    integrations_in_failover_order,
    subscriber_recipient,
)
from notifications.rendering import RenderError, render_message, subscriber_context
from notifications.services.subscribers import normalize_phone
from platform_core.errors import ApplicationError, ErrorKind, validation_error

TEST_SUBJECT = "Clarion test message"
TEST_BODY = "This is a test message from Clarion: the integration '{name}' works."


def _failed(message: str) -> ApplicationError:
    return ApplicationError("test_send_failed", message, kind=ErrorKind.UNPROCESSABLE)


def test_recipient(*, channel: str, to: str, credentials_key: str | None) -> Recipient:
    """Who a test goes to: a subscriber by id (its addresses and channel credentials), or for
    email and SMS a bare address."""
    to = (to or "").strip()
    if not to:
        raise validation_error({"to": ["Enter a subscriber id or an address."]})
    subscriber = Subscriber.objects.filter(subscriber_id=to).first()
    if subscriber is not None:
        return subscriber_recipient(subscriber, credentials_key=credentials_key)
    if channel == Channel.EMAIL and "@" in to:
        return Recipient(subscriber_id="", email=to)
    if channel == Channel.SMS:
        try:
            return Recipient(subscriber_id="", phone=normalize_phone(to))
        except ValidationError:
            pass
    what = {"email": "an email address", "sms": "a phone number"}.get(channel)
    hint = f"a subscriber id or {what}" if what else "the id of a subscriber with credentials"
    raise validation_error({"to": [f"No subscriber '{to}'; enter {hint}."]})


def _credentials_key(integration: Integration) -> str | None:
    try:
        return get_connector_class(integration.provider).credentials_key
    except UnknownProvider:
        return None


def _send(integration: Integration, message: RenderedMessage, recipient: Recipient) -> SendResult:
    try:
        connector = build_connector(
            integration.provider, integration.settings, integration.credentials
        )
    except (UnknownProvider, ConfigError) as exc:
        raise _failed(f"The integration '{integration.name}' is misconfigured: {exc}") from None
    try:
        with connector.session() as session:
            return session.send(message, recipient, idempotency_key=f"test-{uuid.uuid4().hex}")
    except ConnectorError as exc:
        raise _failed(f"'{integration.name}' refused the test: {exc}") from None


def integration_send_test(*, integration: Integration, to: str) -> SendResult:
    """Send a fixed test message through `integration` to `to`; the provider's result."""
    recipient = test_recipient(
        channel=integration.channel, to=to, credentials_key=_credentials_key(integration)
    )
    body = TEST_BODY.format(name=integration.name)
    message = RenderedMessage(
        subject=TEST_SUBJECT,
        body=f"<p>{body}</p>" if integration.channel == Channel.EMAIL else body,
        text_body=body,
    )
    return _send(integration, message, recipient)


def template_send_test(
    *,
    template: Template,
    to: str,
    variant: str = "",
    payload: Mapping[str, Any] | None = None,
) -> tuple[Integration, SendResult]:
    """Render `template` (or its `variant`) as a send would, for the subscriber `to` (or a
    bare address), and send it through the channel's first active integration."""
    if template.channel == Channel.IN_APP:
        raise validation_error({"to": ["In-app templates have no provider to test."]})
    chosen = None
    if variant:
        chosen = template.variants.filter(name=variant).first()
        if chosen is None:
            raise validation_error({"variant": [f"No variant '{variant}'."]})
    integrations = integrations_in_failover_order(channel=template.channel)
    if not integrations:
        raise _failed(f"No active {template.channel} integration to send the test through.")
    integration = integrations[0]
    recipient = test_recipient(
        channel=template.channel, to=to, credentials_key=_credentials_key(integration)
    )
    subscriber = None
    if recipient.subscriber_id:
        subscriber = Subscriber.objects.filter(subscriber_id=recipient.subscriber_id).first()
    if subscriber is None:  # a bare address: a subscriber with nothing but it
        subscriber = Subscriber(subscriber_id="", email=recipient.email, phone=recipient.phone)
    context = {
        "payload": dict(payload or {}),
        "subscriber": subscriber_context(subscriber),
        "actor": None,
    }
    try:
        message = render_message(template=template, variant=chosen, context=context)
    except RenderError as exc:
        raise validation_error({"payload": [str(exc)]}, str(exc)) from None
    return integration, _send(integration, message, recipient)
