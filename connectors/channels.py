"""The channel vocabulary: the one list of channels Clarion delivers on, with their labels."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """A delivery channel; the value is what the API, the database and connectors use."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    CHAT = "chat"
    IN_APP = "in_app"

    @property
    def label(self) -> str:
        """The human name shown in the admin and the docs."""
        return LABELS[self]


LABELS: dict[Channel, str] = {
    Channel.EMAIL: "Email",
    Channel.SMS: "SMS",
    Channel.PUSH: "Push",
    Channel.CHAT: "Chat",
    Channel.IN_APP: "In-app",
}

# Every channel, in display order; `(value, label)` pairs for Django `choices`.
CHANNELS: tuple[Channel, ...] = tuple(Channel)
CHOICES: tuple[tuple[str, str], ...] = tuple((c.value, LABELS[c]) for c in Channel)
# Channels served by a provider connector; in-app is written to the database by the platform.
PROVIDER_CHANNELS: tuple[Channel, ...] = tuple(c for c in Channel if c is not Channel.IN_APP)
