"""Development SMS (`console`): one line per message on a stream, no network."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TextIO

from connectors.base import (
    ConfigError,
    Connector,
    Recipient,
    RenderedMessage,
    SendResult,
    setting,
)
from connectors.channels import Channel
from connectors.phone import mask_phone, recipient_phone
from connectors.registry import register


@dataclass(frozen=True)
class ConsoleConfig:
    show_body: bool = setting(False, help="Print each message's text too (never the number).")


@register
class ConsoleSmsConnector(Connector):
    """Development SMS: one line per message on a stream (stdout by default), no network.

    settings: optional `show_body` (default false). NOTE: the phone number is always masked,
    and the text is shown only when `show_body` is true: stdout usually ends up in logs.
    """

    key = "console"
    channel = Channel.SMS
    config_class = ConsoleConfig
    config: ConsoleConfig

    def __init__(
        self, settings: dict[str, Any], credentials: dict[str, Any], *, stream: TextIO | None = None
    ):
        super().__init__(settings, credentials)
        self.stream = stream

    @classmethod
    def validate_config(
        cls, settings: dict[str, Any], credentials: dict[str, Any]
    ) -> ConsoleConfig:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
        show_body = settings.get("show_body")
        if show_body is not None and not isinstance(show_body, bool):
            raise ConfigError({"settings.show_body": ["Must be true or false."]})
        return ConsoleConfig(show_body=bool(show_body))

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """Write the SMS as one line; returns `console-<idempotency key>`."""
        to = recipient_phone(recipient)
        text = repr(message.body) if self.config.show_body else f"<{len(message.body)} chars>"
        stream = self.stream or sys.stdout
        stream.write(
            f"[sms] delivery={idempotency_key} subscriber={recipient.subscriber_id} "
            f"to={mask_phone(to)} body={text}\n"
        )
        stream.flush()
        return SendResult(provider_message_id=f"console-{idempotency_key}")
