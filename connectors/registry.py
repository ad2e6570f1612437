"""Connectors registered under a string key (`smtp`, `twilio`, `anymail:sendgrid`, ...)."""

from __future__ import annotations

from typing import Any

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
    """The connector class for a provider string; UnknownProvider if there is none.

    `anymail:<esp>` gives a subclass of the `anymail` connector bound to that ESP (so its
    `validate_config` checks that ESP's fields); an ESP django-anymail lacks is unknown, and
    so is a bare `anymail`.
    """
    _load_builtin()
    if provider.startswith("anymail:"):
        from connectors.email import AnymailConnector

        try:
            return AnymailConnector.for_esp(provider.removeprefix("anymail:"))
        except ValueError:
            raise UnknownProvider(provider) from None
    if provider == "anymail":
        raise UnknownProvider(provider)
    try:
        return _registry[provider]
    except KeyError:
        raise UnknownProvider(provider) from None


def build_connector(
    provider: str, settings: dict[str, Any], credentials: dict[str, Any]
) -> Connector:
    """Instantiate the connector for `provider` from an integration's settings and credentials.

    The ESP of `anymail:<esp>` travels in the class: `get_connector_class` returns a subclass
    of `AnymailConnector` whose `esp` attribute is the ESP name, so settings stay untouched.
    Raises UnknownProvider for an unknown provider and ConfigError (a ValueError) for an
    invalid configuration: `validate_config` runs here too, so a misconfigured integration
    fails loudly before any send instead of half-way through a batch.
    """
    cls = get_connector_class(provider)
    settings, credentials = dict(settings or {}), dict(credentials or {})
    cls.validate_config(settings, credentials)
    return cls(settings, credentials)


def providers_for(channel: str) -> list[str]:
    _load_builtin()
    return sorted(key for key, cls in _registry.items() if cls.channel == channel)


def _load_builtin() -> None:
    # Importing the modules registers their connectors.
    from connectors import chat, email, push, sms  # noqa: F401
