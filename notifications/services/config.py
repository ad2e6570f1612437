"""Writes of the configuration rows: templates, workflows, routes, integrations.

Every write runs in one transaction and validates what the API contract promises, raising
`ApiError` (400 `validation_error` with `fields`, or a 409 conflict) so that bad input changes
nothing. Writes that must not interleave (a template deleted while a workflow starts using
it, two integrations made primary at once) are serialised with transaction-scoped PostgreSQL
advisory locks, keyed by tenant schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.core.validators import RegexValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from rest_framework import status

from connectors.base import ConfigError
from connectors.registry import UnknownProvider, get_connector_class, providers_for
from notifications.models import (
    Channel,
    Integration,
    Priority,
    Route,
    StepType,
    Template,
    TemplateVariant,
    Workflow,
    WorkflowStep,
)
from notifications.rendering import template_errors
from platform_core.api.errors import ApiError

KEY_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
KEY_MAX_LENGTH = 100
EVENT_RE = r"^[A-Za-z0-9._:-]{1,200}$"
LOCALE_RE = r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$"

# For the API's serializers and the admin's forms: the same rules, the same messages.
key_validator = RegexValidator(
    KEY_RE, "Use letters, digits, '.', '_' or '-', starting with a letter or digit."
)
locale_validator = RegexValidator(LOCALE_RE, "Use a locale tag such as 'en', 'fr' or 'pt-BR'.")
event_validator = RegexValidator(EVENT_RE, "Use 1-200 letters, digits, '.', '_', '-' or ':'.")

MAX_VARIANTS = 20
MAX_STEPS = 50
DELAY_MAX_SECONDS = 30 * 24 * 3600
DIGEST_MAX_SECONDS = 24 * 3600
MAX_ATTEMPTS_RANGE = (1, 20)
DEFAULT_MAX_ATTEMPTS = 5

Fields = dict[str, list[str]]
Row = TypeVar("Row", bound=Model)


def _invalid(fields: Fields) -> ApiError:
    return ApiError("validation_error", "The request is not valid.", fields=fields)


def _conflict(code: str, message: str) -> ApiError:
    return ApiError(code, message, status_code=status.HTTP_409_CONFLICT)


def _insert(row: Row, *, conflict: ApiError) -> Row:
    """Insert `row`; `conflict` if a unique key clashes with a row written meanwhile by something
    that takes no advisory lock (the admin)."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        raise conflict from None
    return row


def _set_given(row: Model, **values: Any) -> None:
    """Set the fields given a value; None keeps a field as it is."""
    for field, value in values.items():
        if value is not None:
            setattr(row, field, value)


def _lock(kind: str, *names: str, shared: bool = False) -> None:
    """Take transaction-scoped advisory locks on (tenant schema, kind, name), in name order."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    schema = getattr(connection, "schema_name", "public")
    with connection.cursor() as cursor:
        for name in sorted(set(names)):
            cursor.execute(f"SELECT {function}(hashtext(%s))", [f"clarion:{schema}:{kind}:{name}"])


# --- templates ---------------------------------------------------------------------------


def _template_validate(*, template: Template, variants: Sequence[Mapping[str, Any]]) -> None:
    key, locale, channel = template.key, template.locale, template.channel
    errors: Fields = {}
    if channel not in Channel.values:
        errors["channel"] = [f"Use one of: {', '.join(Channel.values)}."]
    if len(variants) > MAX_VARIANTS:
        errors["variants"] = [f"At most {MAX_VARIANTS} variants."]
    seen: set[str] = set()
    for index, variant in enumerate(variants):
        name = variant.get("name") or ""
        weight = variant.get("weight", 1)
        if not name:
            errors.setdefault(f"variants.{index}.name", []).append("This field is required.")
        elif name in seen:
            errors.setdefault(f"variants.{index}.name", []).append(
                f"Another variant is named '{name}'."
            )
        seen.add(name)
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            errors.setdefault(f"variants.{index}.weight", []).append("Use an integer of 0 or more.")
    if errors:
        raise _invalid(errors)
    # Syntax, names other than payload / subscriber / actor, required content per channel.
    errors = template_errors(
        channel=channel,
        subject=template.subject,
        body=template.body,
        cta_url=template.cta_url,
        variants=[dict(variant) for variant in variants],
    )
    if errors:
        raise _invalid(errors)
    other_channels = (
        Template.objects.filter(key=key)
        .exclude(locale=locale)
        .exclude(channel=channel)
        .values_list("channel", flat=True)
        .distinct()
    )
    if other := list(other_channels):
        raise _invalid(
            {
                "channel": [
                    f"Template '{key}' exists in other locales for channel "
                    f"{', '.join(sorted(other))}; every locale of a key has the same channel."
                ]
            }
        )
    clashing = (
        WorkflowStep.objects.filter(type=StepType.SEND, template_key=key)
        .exclude(channel=channel)
        .select_related("workflow")
        .order_by("workflow__key", "position")
        .first()
    )
    if clashing is not None:
        raise _conflict(
            "template_in_use",
            f"Template '{key}' is used by workflow '{clashing.workflow.key}' "
            f"(step {clashing.position}) on channel {clashing.channel}; its channel cannot "
            f"change to {channel}.",
        )


def _variants_replace(*, template: Template, variants: Sequence[Mapping[str, Any]]) -> None:
    template.variants.all().delete()
    TemplateVariant.objects.bulk_create(
        TemplateVariant(
            template=template,
            name=variant["name"],
            weight=variant.get("weight", 1),
            subject=variant.get("subject") or "",
            body=variant["body"],
        )
        for variant in variants
    )


def _template_prefetched(template: Template) -> Template:
    # Callers serialise the variants just written; reading them once avoids stale caches.
    return Template.objects.prefetch_related("variants").get(pk=template.pk)


@transaction.atomic
def template_create(
    *,
    key: str,
    channel: str,
    locale: str,
    body: str,
    subject: str = "",
    cta_url: str = "",
    variants: Sequence[Mapping[str, Any]] = (),
) -> Template:
    """Create the template `key` in `locale`; 409 `template_exists` if it is there already."""
    _lock("template", key)
    exists = _conflict(
        "template_exists", f"Template '{key}' already exists in locale '{locale}'; PUT replaces it."
    )
    if Template.objects.filter(key=key, locale=locale).exists():
        raise exists
    template = Template(
        key=key, channel=channel, locale=locale, subject=subject, body=body, cta_url=cta_url
    )
    _template_validate(template=template, variants=variants)
    _insert(template, conflict=exists)
    _variants_replace(template=template, variants=variants)
    return _template_prefetched(template)


@transaction.atomic
def template_upsert(
    *,
    key: str,
    channel: str,
    locale: str,
    body: str,
    subject: str = "",
    cta_url: str = "",
    variants: Sequence[Mapping[str, Any]] = (),
) -> tuple[Template, bool]:
    """Create or wholly replace the template `key` in `locale`, variants included."""
    _lock("template", key)
    content = Template(
        key=key, channel=channel, locale=locale, subject=subject, body=body, cta_url=cta_url
    )
    _template_validate(template=content, variants=variants)
    template = Template.objects.select_for_update().filter(key=key, locale=locale).first()
    created = template is None
    if created:
        template = content
    else:
        template.channel = channel
        template.subject = subject
        template.body = body
        template.cta_url = cta_url
    template.save()
    _variants_replace(template=template, variants=variants)
    return _template_prefetched(template), created


@transaction.atomic
def template_delete(*, key: str, locale: str | None = None) -> int:
    """Delete one locale of `key`, or every locale when `locale` is None; the number deleted."""
    _lock("template", key)
    existing = Template.objects.filter(key=key)
    targets = list(existing.filter(locale=locale) if locale else existing)
    if not targets:
        where = f" in locale '{locale}'" if locale else ""
        raise ApiError(
            "not_found", f"No template '{key}'{where}.", status_code=status.HTTP_404_NOT_FOUND
        )
    # A workflow needs the key in some locale: only removing the last one is refused.
    if not existing.exclude(pk__in=[template.pk for template in targets]).exists():
        users = sorted(
            set(
                WorkflowStep.objects.filter(type=StepType.SEND, template_key=key).values_list(
                    "workflow__key", flat=True
                )
            )
        )
        if users:
            raise _conflict(
                "template_in_use",
                f"Template '{key}' is used by workflow(s) {', '.join(users)}; "
                "change those workflows first.",
            )
    Template.objects.filter(pk__in=[template.pk for template in targets]).delete()
    return len(targets)


# --- workflows ---------------------------------------------------------------------------

_STEP_KEYS = {
    StepType.SEND: {"type", "channel", "template", "condition"},
    StepType.DELAY: {"type", "seconds"},
    StepType.DIGEST: {"type", "window_seconds"},
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def workflow_steps_errors(*, steps: Sequence[Mapping[str, Any]]) -> Fields:
    """Everything wrong with a list of steps in the API's format, by field (`steps.2.seconds`)."""
    errors: Fields = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if len(steps) > MAX_STEPS:
        add("steps", f"At most {MAX_STEPS} steps.")
        return errors
    template_channels: dict[str, set[str]] = {}
    keys = {str(step.get("template")) for step in steps if isinstance(step, Mapping)}
    for key, channel in Template.objects.filter(key__in=keys).values_list("key", "channel"):
        template_channels.setdefault(key, set()).add(channel)

    sends = 0
    for index, step in enumerate(steps):
        at = f"steps.{index}"
        if not isinstance(step, Mapping):
            add(at, "Expected an object.")
            continue
        kind = step.get("type")
        if kind not in _STEP_KEYS:
            add(f"{at}.type", f"Use one of: {', '.join(StepType.values)}.")
            continue
        for unknown in sorted(set(step) - _STEP_KEYS[kind]):
            add(f"{at}.{unknown}", "Unknown field.")
        if kind == StepType.SEND:
            sends += 1
            channel, key = step.get("channel"), step.get("template")
            if channel not in Channel.values:
                add(f"{at}.channel", f"Use one of: {', '.join(Channel.values)}.")
            if not key or not isinstance(key, str):
                add(f"{at}.template", "This field is required.")
            elif key not in template_channels:
                add(f"{at}.template", f"No template '{key}'.")
            elif channel in Channel.values and channel not in template_channels[key]:
                have = ", ".join(sorted(template_channels[key]))
                add(f"{at}.template", f"Template '{key}' is for {have}, not {channel}.")
            if step.get("condition") is not None:
                _condition_errors(step["condition"], index, steps, add)
        elif kind == StepType.DELAY:
            seconds = step.get("seconds")
            if not _is_int(seconds) or not 1 <= seconds <= DELAY_MAX_SECONDS:
                add(f"{at}.seconds", f"Use a whole number from 1 to {DELAY_MAX_SECONDS} (30 days).")
        else:
            window = step.get("window_seconds")
            if not _is_int(window) or not 1 <= window <= DIGEST_MAX_SECONDS:
                add(
                    f"{at}.window_seconds",
                    f"Use a whole number from 1 to {DIGEST_MAX_SECONDS} (1 day).",
                )
    if not sends and not errors:
        add("steps", "A workflow needs at least one send step.")
    return errors


def _condition_errors(condition: Any, index: int, steps: Sequence[Mapping], add) -> None:
    at = f"steps.{index}.condition"
    if not isinstance(condition, Mapping):
        add(at, 'Expected an object such as {"unread": 0}.')
        return
    for unknown in sorted(set(condition) - {"unread"}):
        add(f"{at}.{unknown}", "Unknown field.")
    target = condition.get("unread")
    if not _is_int(target):
        add(f"{at}.unread", "Give the index of an earlier in_app send step.")
        return
    earlier = steps[target] if 0 <= target < index else None
    if not (
        isinstance(earlier, Mapping)
        and earlier.get("type") == StepType.SEND
        and earlier.get("channel") == Channel.IN_APP
    ):
        add(f"{at}.unread", f"Step {target} is not an earlier in_app send step.")


def workflow_step_representation(step: WorkflowStep) -> dict[str, Any]:
    """A step row in the API's list format (the inverse of what `_steps_write` stores)."""
    if step.type == StepType.SEND:
        data = {"type": step.type, "channel": step.channel, "template": step.template_key}
        if step.unread_step is not None:
            data["condition"] = {"unread": step.unread_step}
        return data
    if step.type == StepType.DELAY:
        return {"type": step.type, "seconds": step.seconds}
    return {"type": step.type, "window_seconds": step.seconds}


def _steps_write(*, workflow: Workflow, steps: Sequence[Mapping[str, Any]]) -> None:
    rows = []
    for position, step in enumerate(steps):
        row = WorkflowStep(workflow=workflow, position=position, type=step["type"])
        if step["type"] == StepType.SEND:
            row.channel = step["channel"]
            row.template_key = step["template"]
            row.unread_step = (step.get("condition") or {}).get("unread")
        elif step["type"] == StepType.DELAY:
            row.seconds = step["seconds"]
        else:
            row.seconds = step["window_seconds"]
        rows.append(row)
    WorkflowStep.objects.bulk_create(rows)


def _steps_validate(steps: Sequence[Mapping[str, Any]]) -> None:
    # Shared locks: templates may be read by many workflow writes, but not deleted meanwhile.
    _lock("template", *_template_keys(steps), shared=True)
    if errors := workflow_steps_errors(steps=steps):
        raise _invalid(errors)


def _template_keys(steps: Iterable[Any]) -> list[str]:
    return [
        step["template"]
        for step in steps
        if isinstance(step, Mapping) and isinstance(step.get("template"), str)
    ]


def _workflow_prefetched(workflow: Workflow) -> Workflow:
    return Workflow.objects.prefetch_related("steps").get(pk=workflow.pk)


@transaction.atomic
def workflow_create(
    *, key: str, name: str, steps: Sequence[Mapping[str, Any]], critical: bool = False
) -> Workflow:
    """Create a workflow and its steps; 409 `workflow_exists` if the key is taken."""
    _lock("workflow", key)
    exists = _conflict("workflow_exists", f"Workflow '{key}' already exists; PUT replaces it.")
    if Workflow.objects.filter(key=key).exists():
        raise exists
    _steps_validate(steps)
    workflow = _insert(Workflow(key=key, name=name, critical=critical), conflict=exists)
    _steps_write(workflow=workflow, steps=steps)
    return _workflow_prefetched(workflow)


@transaction.atomic
def workflow_replace(
    *, workflow: Workflow, name: str, steps: Sequence[Mapping[str, Any]], critical: bool = False
) -> Workflow:
    """Replace a workflow's name, criticality and its whole list of steps."""
    _lock("workflow", workflow.key)
    _steps_validate(steps)
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    workflow.name = name
    workflow.critical = critical
    workflow.save()
    workflow.steps.all().delete()
    _steps_write(workflow=workflow, steps=steps)
    return _workflow_prefetched(workflow)


@transaction.atomic
def workflow_delete(*, workflow: Workflow) -> None:
    """Delete a workflow and its steps; 409 `workflow_in_use` while a route points at it."""
    _lock("workflow", workflow.key)
    events = list(Route.objects.filter(workflow_id=workflow.pk).values_list("event", flat=True))
    if events:
        shown = ", ".join(sorted(events)[:10]) + (" …" if len(events) > 10 else "")
        raise _conflict(
            "workflow_in_use",
            f"Workflow '{workflow.key}' is used by route(s) {shown}; change those routes first.",
        )
    Workflow.objects.filter(pk=workflow.pk).delete()


# --- routes ------------------------------------------------------------------------------


def _route_fields_validate(
    *, priority: str | None, max_attempts: int | None, event: str | None = None
) -> None:
    errors: Fields = {}
    if event is not None and not re.match(EVENT_RE, event):
        errors["event"] = [event_validator.message]
    if priority is not None and priority not in Priority.values:
        errors["priority"] = [f"Use one of: {', '.join(Priority.values)}."]
    low, high = MAX_ATTEMPTS_RANGE
    if max_attempts is not None and (not _is_int(max_attempts) or not low <= max_attempts <= high):
        errors["max_attempts"] = [f"Use a whole number from {low} to {high}."]
    if errors:
        raise _invalid(errors)


def _workflow_for_route(key: str) -> Workflow:
    # Shared: routes may be pointed at a workflow concurrently, but it cannot vanish meanwhile.
    _lock("workflow", key, shared=True)
    workflow = Workflow.objects.filter(key=key).first()
    if workflow is None:
        raise _invalid({"workflow": [f"No workflow '{key}'."]})
    return workflow


@transaction.atomic
def route_create(
    *,
    event: str,
    workflow_key: str,
    priority: str = Priority.NORMAL,
    active: bool = True,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Route:
    """Route `event` to a workflow; 409 `route_exists` if the event is routed already."""
    _route_fields_validate(event=event, priority=priority, max_attempts=max_attempts)
    workflow = _workflow_for_route(workflow_key)
    _lock("route", event)
    exists = _conflict(
        "route_exists", f"Event '{event}' is routed already; PUT or PATCH changes its route."
    )
    if Route.objects.filter(event=event).exists():
        raise exists
    route = Route(
        event=event,
        workflow=workflow,
        priority=priority,
        active=active,
        max_attempts=max_attempts,
    )
    return _insert(route, conflict=exists)


@transaction.atomic
def route_update(
    *,
    route: Route,
    workflow_key: str | None = None,
    priority: str | None = None,
    active: bool | None = None,
    max_attempts: int | None = None,
) -> Route:
    """Change the given fields of a route (None keeps a field as it is)."""
    _route_fields_validate(priority=priority, max_attempts=max_attempts)
    route = Route.objects.select_for_update().select_related("workflow").get(pk=route.pk)
    if workflow_key is not None:
        route.workflow = _workflow_for_route(workflow_key)
    _set_given(route, priority=priority, active=active, max_attempts=max_attempts)
    route.save()
    return route


@transaction.atomic
def route_delete(*, route: Route) -> None:
    """Delete a route: its event stops being accepted (422 `unknown_event`)."""
    Route.objects.filter(pk=route.pk).delete()


# --- integrations ------------------------------------------------------------------------


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
    if errors:
        raise _invalid(errors)
    try:
        connector.validate_config(dict(settings), dict(credentials))
    except ConfigError as exc:
        raise _invalid(_config_fields(exc, settings, credentials)) from None


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
