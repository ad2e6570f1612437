"""The connectors app: registers every provider connector when Django starts."""

from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    """Imports each provider module; each registers its connector class (`@register`)."""

    name = "connectors"
    verbose_name = "Connectors"
    # The one list of provider modules. A module registers its classes when imported.
    provider_modules: tuple[str, ...] = (
        "connectors.smtp",
        "connectors.anymail",
        "connectors.twilio",
        "connectors.console",
        "connectors.webhook",
        "connectors.slack",
        "connectors.fcm",
        "connectors.webpush",
    )

    def ready(self) -> None:
        """Register the provider connectors."""
        for module in self.provider_modules:
            import_module(module)
