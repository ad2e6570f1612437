"""Writes of templates and their A/B variants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from notifications.models import (
    Channel,
    StepType,
    Template,
    TemplateFormat,
    TemplateVariant,
    WorkflowStep,
    WorkflowVersion,
)
from notifications.rendering import template_check
from notifications.services.config.common import (
    KEY_MAX_LENGTH,
    MAX_VARIANTS,
    Fields,
    _conflict,
    _insert,
    _invalid,
    _lock,
    _not_found,
    key_validator,
)
from platform_core.errors import ApplicationError, ErrorKind


def _key_check(key: str) -> None:
    """A template key is path-safe (letters, digits, '.', '_', '-'; at most 100 characters)."""
    try:
        if len(key) > KEY_MAX_LENGTH:
            raise ValidationError(
                f"Ensure this field has no more than {KEY_MAX_LENGTH} characters."
            )
        key_validator(key)
    except ValidationError as exc:
        raise _invalid({"key": list(exc.messages)}) from None


def _template_validate(*, template: Template, variants: Sequence[Mapping[str, Any]]) -> None:
    key, locale, channel = template.key, template.locale, template.channel
    errors: Fields = {}
    if channel not in Channel.values:
        errors["channel"] = [f"Use one of: {', '.join(Channel.values)}."]
    if template.format not in TemplateFormat.values:
        errors["format"] = [f"Use one of: {', '.join(TemplateFormat.values)}."]
    elif template.format == TemplateFormat.MJML and channel != Channel.EMAIL:
        errors["format"] = ["Only email templates can be MJML."]
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
    # Syntax, names other than payload / subscriber / actor, required content per channel,
    # and the render limits (a trial render with blank data).
    check = template_check(
        channel=channel,
        subject=template.subject,
        body=template.body,
        cta_url=template.cta_url,
        variants=[dict(variant) for variant in variants],
        format=template.format,
    )
    if check.mjml_invalid:
        raise ApplicationError(
            "mjml_invalid",
            "; ".join(
                f"{name}: {' '.join(check.errors[name])}" for name in sorted(check.mjml_invalid)
            ),
            kind=ErrorKind.VALIDATION,
            fields=check.errors,
        )
    if check.errors and set(check.errors) <= check.over_limit:
        raise ApplicationError(
            "template_over_limit",
            "The template goes over a render limit: "
            + "; ".join(f"{name}: {' '.join(check.errors[name])}" for name in sorted(check.errors)),
            kind=ErrorKind.VALIDATION,
            fields=check.errors,
        )
    if check.errors:
        raise _invalid(check.errors)
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
    format: str = TemplateFormat.HTML,
) -> Template:
    """Create the template `key` in `locale`; 409 `template_exists` if it is there already."""
    _key_check(key)
    _lock("template", key)
    exists = _conflict(
        "template_exists", f"Template '{key}' already exists in locale '{locale}'; PUT replaces it."
    )
    if Template.objects.filter(key=key, locale=locale).exists():
        raise exists
    template = Template(
        key=key,
        channel=channel,
        locale=locale,
        subject=subject,
        body=body,
        cta_url=cta_url,
        format=format,
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
    format: str = TemplateFormat.HTML,
) -> tuple[Template, bool]:
    """Create or wholly replace the template `key` in `locale`, variants included."""
    _key_check(key)
    _lock("template", key)
    content = Template(
        key=key,
        channel=channel,
        locale=locale,
        subject=subject,
        body=body,
        cta_url=cta_url,
        format=format,
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
        template.format = format
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
        raise _not_found(f"No template '{key}'{where}.")
    # A workflow needs the key in some locale: only removing the last one is refused.
    if not existing.exclude(pk__in=[template.pk for template in targets]).exists():
        users = sorted(
            set(
                WorkflowStep.objects.filter(type=StepType.SEND, template_key=key).values_list(
                    "workflow__key", flat=True
                )
            )
            # A version being rolled out needs it too.
            | set(
                WorkflowVersion.objects.filter(
                    workflow__rollout_version=F("number"),
                    snapshot__steps__contains=[{"type": StepType.SEND, "template": key}],
                ).values_list("workflow__key", flat=True)
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
