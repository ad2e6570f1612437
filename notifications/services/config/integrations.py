"""Writes of integrations: provider accounts, their encrypted credentials, the primary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from connectors.base import ConfigError
from connectors.registry import UnknownProvider, get_connector_class, providers_for
from notifications.models import Channel, Integration
from notifications.pipeline.governance import rate_limit_errors
from notifications.services.config.common import Fields, _invalid, _lock, _set_given

_INTEGRATION_FIELDS = frozenset({"channel", "provider", "name", "settings", "credentials"})


def _config_fields(
    error: ConfigError, settings: Mapping[str, Any], credentials: Mapping[str, Any]
) -> Fields:
    """A connector's field names as the API reports them: `settings.x` or `credentials.x`."""
    fields: Fields = {}
    for name, messages in error.fields.items():
        if name in _INTEGRATION_FIELDS or name.startswith(("settings.", "credentials.")):
            field = name
        elif name in credentials and name not in settings:
            field = f"credentials.{name}"
        else:
            field = f"settings.{name}"
        fields.setdefault(field, []).extend(messages)
    return fields


def integration_settings_errors(settings: Mapping[str, Any]) -> Fields:
    """Problems with the settings every integration may carry (its rate limit)."""
    return rate_limit_errors(settings)


def _integration_validate(
    *, channel: str, provider: str, settings: Any, credentials: Any, name: str
) -> None:
    errors: Fields = {}
    if channel == Channel.IN_APP:
        raise _invalid({"channel": ["in_app is built in; it needs no integration."]})
    if channel not in Channel.values:
        raise _invalid({"channel": [f"Use one of: {', '.join(Channel.values)}."]})
    if not name:
        errors["name"] = ["This field is required."]
    if not isinstance(settings, Mapping):
        errors["settings"] = ["Expected an object."]
    if not isinstance(credentials, Mapping):
        errors["credentials"] = ["Expected an object."]
    valid = providers_for(channel)
    shown = ", ".join("anymail:<esp>" if key == "anymail" else key for key in valid) or "none"
    try:
        connector = get_connector_class(provider)
    except UnknownProvider:
        connector = None
    if connector is None or connector.channel != channel:
        errors["provider"] = [f"'{provider}' is not a {channel} provider; use one of: {shown}."]
    if isinstance(settings, Mapping):
        errors.update(integration_settings_errors(settings))
    if errors:
        raise _invalid(errors)
    try:
        connector.validate_config(dict(settings), dict(credentials))
    except ConfigError as exc:
        raise _invalid(_config_fields(exc, settings, credentials)) from None
    # Refused on save, so nothing ever connects there (checked again at connect time).
    if refused := connector.destination_errors(dict(settings)):
        raise _invalid(refused)


def _primary_claim(*, integration: Integration) -> None:
    """Make `integration` the only primary of its channel (call inside the transaction)."""
    Integration.objects.filter(channel=integration.channel, primary=True).exclude(
        pk=integration.pk
    ).update(primary=False)


def _integration_save(integration: Integration, *, credentials: dict[str, Any]) -> Integration:
    """Validate the integration as a whole, then save it; a primary demotes the others."""
    _integration_validate(
        channel=integration.channel,
        provider=integration.provider,
        settings=integration.settings,
        credentials=credentials,
        name=integration.name,
    )
    _lock("integration-primary", integration.channel)
    integration.credentials = credentials
    integration.save()
    if integration.primary:
        _primary_claim(integration=integration)
    return integration


@transaction.atomic
def integration_create(
    *,
    channel: str,
    provider: str,
    name: str,
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
    primary: bool = True,
    active: bool = True,
) -> Integration:
    """Add a provider account; credentials are encrypted, a primary demotes the others."""
    integration = Integration(
        channel=channel,
        provider=provider,
        name=name,
        settings=dict(settings or {}),
        primary=primary,
        active=active,
    )
    return _integration_save(integration, credentials=dict(credentials or {}))


@transaction.atomic
def integration_update(
    *,
    integration: Integration,
    channel: str | None = None,
    provider: str | None = None,
    name: str | None = None,
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
    primary: bool | None = None,
    active: bool | None = None,
) -> Integration:
    """Change the given fields (None keeps one, stored credentials included); validates all."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    _set_given(
        integration,
        channel=channel,
        provider=provider,
        name=name,
        settings=None if settings is None else dict(settings),
        primary=primary,
        active=active,
    )
    credentials = integration.credentials if credentials is None else dict(credentials)
    return _integration_save(integration, credentials=credentials)


@transaction.atomic
def integration_delete(*, integration: Integration) -> None:
    """Delete a provider account; the channel's other integrations keep sending."""
    Integration.objects.filter(pk=integration.pk).delete()
