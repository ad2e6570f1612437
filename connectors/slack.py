"""Chat through Slack incoming webhooks (`slack`): https://api.slack.com/messaging/webhooks"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import (
    PermanentError,
    Recipient,
    RenderedMessage,
    SendResult,
    raise_for,
    setting,
    url_setting_errors,
)
from connectors.channels import Channel
from connectors.http import HttpConnector, http_error, webhook_target_url
from connectors.registry import register


def _slack_escape(text: str) -> str:
    # https://api.slack.com/reference/surfaces/formatting#escaping
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(message: RenderedMessage, link_text: str = "Open") -> str:
    """Slack mrkdwn: the subject in bold, the body, and the call to action as a link."""
    lines = []
    if message.subject:
        lines.append(f"*{_slack_escape(message.subject)}*")
    if message.body:
        lines.append(_slack_escape(message.body))
    if message.cta_url:
        url = message.cta_url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
        lines.append(f"<{url}|{_slack_escape(link_text)}>")
    return "\n".join(lines)


@dataclass(frozen=True)
class SlackConfig:
    # NOTE: an incoming-webhook URL is itself the secret: kept out of reprs and messages.
    url: str = setting("", repr=False, help="Blank: each subscriber's own incoming webhook.")
    link_text: str = setting("Open", help="The text of the message's link.")


@register
class SlackConnector(HttpConnector):
    """Slack incoming webhooks.

    settings: `url` (the incoming-webhook URL; optional when subscribers bring their own),
    optional `link_text` (default "Open"). Subscriber credentials (key `slack`):
    `{"webhook_url": ...}` overrides `url`. NOTE: the URL is itself the secret.
    """

    key = "slack"
    channel = Channel.CHAT
    config_class = SlackConfig
    credentials_key = "slack"
    destination_urls = ("url",)
    config: SlackConfig

    @classmethod
    def validate_config(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> SlackConfig:
        """Return the typed configuration, or raise ConfigError naming every invalid field."""
        errors = url_setting_errors(settings, "url")
        link_text = settings.get("link_text")
        if link_text is not None and (not isinstance(link_text, str) or not link_text.strip()):
            errors["settings.link_text"] = ["Enter a non-empty text."]
        raise_for(errors)
        return SlackConfig(url=settings.get("url") or "", link_text=link_text or "Open")

    def send(
        self, message: RenderedMessage, recipient: Recipient, *, idempotency_key: str
    ) -> SendResult:
        """POST `{"text": ...}`; Slack answers 200 `ok`."""
        url = webhook_target_url(recipient, self.config.url)
        text = slack_text(message, self.config.link_text)
        if not text:
            raise PermanentError("the rendered chat message is empty")
        response = self._post(url, what="slack", json={"text": text})
        if response.status_code == 200:
            return SendResult(response_code=200)
        # Slack's error is a short code in the body: invalid_payload, no_service,
        # channel_not_found, channel_is_archived, action_prohibited, ...
        # https://api.slack.com/messaging/webhooks#handling_errors
        code = response.text.strip()[:60] if response.text else ""
        raise http_error(response, "slack", code)
