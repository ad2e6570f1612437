"""Connectors registered under a string key (`smtp`, `twilio`, `anymail:sendgrid`, ...)."""

from __future__ import annotations

from connectors.base import Connector

_registry: dict[str, type[Connector]] = {}


class UnknownProvider(KeyError):
    pass


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator; refuses a second connector under the same key."""
    if cls.key in _registry:
        raise ValueError(f"a connector is already registered as {cls.key!r}")
    _registry[cls.key] = cls
    return cls


def get_connector_class(provider: str) -> type[Connector]:
    _load_builtin()
    if provider.startswith("anymail:"):
        provider_key = "anymail"
    else:
        provider_key = provider
    try:
        return _registry[provider_key]
    except KeyError:
        raise UnknownProvider(provider) from None


def providers_for(channel: str) -> list[str]:
    _load_builtin()
    return sorted(key for key, cls in _registry.items() if cls.channel == channel)


def _load_builtin() -> None:
    # Importing the modules registers their connectors.
    from connectors import chat, email, push, sms  # noqa: F401
