"""Connector classes registered under a provider key (`smtp`, `twilio`, `webhook`, ...).

The registry knows no provider: each provider module registers its class with `@register`
when it is imported, and the connectors app imports them all at start
(`connectors.apps.ConnectorsConfig`). A provider string `<key>:<variant>` (`anymail:sendgrid`)
is resolved by the class registered under `<key>` (`Connector.variant`).
"""

from __future__ import annotations

from typing import Any

from connectors.base import Connector

VARIANT_SEPARATOR = ":"


class UnknownProvider(KeyError):
    """No registered connector answers to this provider string."""


class AlreadyRegistered(ValueError):
    """A second connector claimed a key that is taken."""


class ConnectorRegistry:
    """Connector classes by key; refuses duplicates."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Connector]] = {}

    def register(self, cls: type[Connector]) -> type[Connector]:
        """Add a connector class under its `key`; usable as a class decorator."""
        key = getattr(cls, "key", "")
        if not key or VARIANT_SEPARATOR in key:
            raise ValueError(f"{cls.__name__} needs a `key` without {VARIANT_SEPARATOR!r}")
        if key in self._classes:
            raise AlreadyRegistered(
                f"a connector is already registered as {key!r}: {self._classes[key].__name__}"
            )
        self._classes[key] = cls
        return cls

    def get(self, provider: str) -> type[Connector]:
        """The connector class for a provider string; UnknownProvider if there is none."""
        key, separator, variant = provider.partition(VARIANT_SEPARATOR)
        cls = self._loaded().get(key)
        if cls is None:
            raise UnknownProvider(provider)
        if not separator:
            if cls.requires_variant:
                raise UnknownProvider(provider)
            return cls
        try:
            return cls.variant(variant)
        except ValueError:
            raise UnknownProvider(provider) from None

    def keys_for(self, channel: str) -> list[str]:
        """The registered keys of a channel's connectors, sorted."""
        return sorted(key for key, cls in self._loaded().items() if cls.channel == channel)

    def provider_strings_for(self, channel: str) -> list[str]:
        """Every usable provider string of a channel: plain keys and each `<key>:<variant>`."""
        strings: list[str] = []
        for key in self.keys_for(channel):
            cls = self._classes[key]
            if not cls.requires_variant:
                strings.append(key)
            strings.extend(f"{key}{VARIANT_SEPARATOR}{name}" for name in cls.variants())
        return strings

    def classes(self) -> dict[str, type[Connector]]:
        """Every registered class by key."""
        return dict(self._loaded())

    def _loaded(self) -> dict[str, type[Connector]]:
        if not self._classes:
            # An empty registry means the app never started: say so instead of "unknown".
            raise RuntimeError(
                "no connectors are registered: add 'connectors' to INSTALLED_APPS "
                "(its AppConfig.ready() imports the provider modules)"
            )
        return self._classes


registry = ConnectorRegistry()
register = registry.register


def get_connector_class(provider: str) -> type[Connector]:
    """The connector class for a provider string; UnknownProvider if there is none.

    `<key>:<variant>` gives what the `<key>` connector's `variant()` returns (for
    `anymail:<esp>`, a subclass bound to that ESP); an unknown variant is unknown, and so is
    a bare key whose connector requires a variant (`anymail`).
    """
    return registry.get(provider)


def build_connector(
    provider: str, settings: dict[str, Any], credentials: dict[str, Any]
) -> Connector:
    """Instantiate the connector for `provider` from an integration's settings and credentials.

    Raises UnknownProvider for an unknown provider and ConfigError (a ValueError) for an
    invalid configuration: the constructor runs `validate_config`, so a misconfigured
    integration fails loudly before any send instead of half-way through a batch.
    """
    return get_connector_class(provider)(settings, credentials)


def providers_for(channel: str) -> list[str]:
    """The registered connector keys of a channel, sorted (`anymail`, not each ESP)."""
    return registry.keys_for(channel)


def provider_strings_for(channel: str) -> list[str]:
    """Every provider string an integration of `channel` may use (`smtp`, `anymail:postmark`)."""
    return registry.provider_strings_for(channel)
