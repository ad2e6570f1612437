"""Writes to subscribers: upserts (one and in bulk), credentials, preferences, GDPR erasure.

The writes raise `ApplicationError` (`validation_error` naming each bad field). The field
validators (`normalize_phone`, `normalize_locale`, `validate_timezone`, `normalize_window`)
raise Django's `ValidationError`, the protocol of validators, so that the API's serializers
and the admin's forms use them as they are.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Replace
from django.utils import timezone as django_timezone

from connectors import channels
from connectors.base import NOT_PUBLIC_FIELD, destination_error
from notifications.models import (
    Delivery,
    DeliveryEvent,
    InboxMessage,
    Notification,
    Subscriber,
    TopicSubscription,
)
from notifications.pipeline.quiet_hours import WindowError, window_parse
from notifications.services.ids import id_normalize, id_problem
from platform_core.errors import ApplicationError, ErrorKind, Fields, validation_error

# Fields a client may set on a subscriber (besides credentials and preferences).
SUBSCRIBER_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "data",
    "quiet_hours",
)
# Providers whose subscriber-level credentials Clarion reads (`Connector.credentials_key`).
CREDENTIAL_PROVIDERS = ("fcm", "webpush", "slack", "webhook")
PREFERENCE_CHANNELS = tuple(channels.CHANNELS)
BULK_UPSERT_LIMIT = 1000
# What an erased subscriber's snapshot as a notification's actor becomes.
ERASED_ACTOR = {
    "subscriber_id": "",
    "email": "",
    "phone": "",
    "first_name": "",
    "last_name": "",
    "locale": "",
    "timezone": "",
    "data": {},
}

# language[-Script][-REGION][-variant...], e.g. en, fr-CA, zh-Hant-TW, sr-Latn, es-419.
_LOCALE_RE = re.compile(
    r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|\d{3}))?(?:-(?:[a-z0-9]{5,8}|\d[a-z0-9]{3}))*$"
)
_email_validator = EmailValidator()


# --- validation ----------------------------------------------------------------------------


def normalize_phone(value: str) -> str:
    """A phone number in E.164 (`+14155550123`); ValidationError if it is not a valid one."""
    message = "Enter a valid phone number in international format, e.g. +14155550123."
    try:
        number = phonenumbers.parse(str(value), None)
    except phonenumbers.NumberParseException:
        raise ValidationError(message, code="invalid_phone") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(message, code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_locale(value: str) -> str:
    """A BCP-47-style tag in canonical case (`fr_ca` → `fr-CA`); '' stays ''."""
    if not value:
        return ""
    parts = str(value).strip().replace("_", "-").split("-")
    canonical = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            canonical.append(part.title())  # script
        elif len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
            canonical.append(part.upper())  # region
        else:
            canonical.append(part.lower())
    tag = "-".join(canonical)
    if len(tag) > 35 or not _LOCALE_RE.match(tag):
        raise ValidationError(
            "Enter a language tag such as 'en', 'fr-CA' or 'zh-Hant-TW'.", code="invalid_locale"
        )
    return tag


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> str:
    """An IANA time zone name (`Europe/Paris`); '' stays ''."""
    if not value:
        return ""
    if value not in _timezones() and value != "UTC":
        raise ValidationError(
            "Enter an IANA time zone name such as 'Europe/Paris'.", code="invalid_timezone"
        )
    return value


def normalize_window(value: Any) -> dict[str, str] | None:
    """Quiet hours or a send window, `{"start": "HH:MM", "end": "HH:MM"}`; None clears it."""
    try:
        window = window_parse(value)
    except WindowError as exc:
        raise ValidationError(str(exc), code="invalid_window") from None
    return window.as_dict() if window else None


def _clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Validated, normalised subscriber fields; `validation_error` naming every bad one."""
    unknown = sorted(set(fields) - set(SUBSCRIBER_FIELDS))
    errors: Fields = {name: ["Unknown field."] for name in unknown}
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        if name in unknown:
            continue
        try:
            if name == "email":
                value = (value or "").strip() or None
                if value is not None:
                    _email_validator(value)
            elif name == "phone":
                value = normalize_phone(value) if value else None
            elif name == "locale":
                value = normalize_locale(value or "")
            elif name == "timezone":
                value = validate_timezone(value or "")
            elif name == "quiet_hours":
                value = normalize_window(value)
            elif name == "data":
                if value is None:
                    value = {}
                if not isinstance(value, dict):
                    raise ValidationError("Must be a JSON object.", code="invalid")
            else:  # first_name, last_name
                value = value or ""
        except ValidationError as exc:
            errors[name] = list(exc.messages)
            continue
        cleaned[name] = value
    if errors:
        raise validation_error(errors)
    return cleaned


# --- subscribers ---------------------------------------------------------------------------


def _new_ids_problems(subscriber_ids: Iterable[str]) -> dict[str, str]:
    """id → why it is not a valid id, for the ids that break the id rule and do not exist yet
    (subscribers stored before the rule stay addressable)."""
    problems = {
        subscriber_id: problem
        for subscriber_id in subscriber_ids
        if (problem := id_problem(subscriber_id)) is not None
    }
    if problems:
        existing = Subscriber.objects.filter(subscriber_id__in=list(problems))
        for subscriber_id in existing.values_list("subscriber_id", flat=True):
            problems.pop(subscriber_id, None)
    return problems


def subscriber_upsert(*, subscriber_id: str, **fields: Any) -> tuple[Subscriber, bool]:
    """Create the subscriber, or update the fields given; (subscriber, created)."""
    subscriber_id = id_normalize(subscriber_id)
    problems = _new_ids_problems([subscriber_id])
    if problems:
        raise validation_error({"subscriber_id": [problems[subscriber_id]]})
    cleaned = _clean_fields(fields)
    # update_or_create locks the row (SELECT ... FOR UPDATE) and survives a concurrent insert.
    return Subscriber.objects.update_or_create(subscriber_id=subscriber_id, defaults=cleaned)


def subscribers_bulk_upsert(*, items: list[dict[str, Any]]) -> tuple[int, int]:
    """Upsert up to 1000 subscribers all-or-nothing in a few statements; (created, updated)."""
    if len(items) > BULK_UPSERT_LIMIT:
        raise ApplicationError(
            "batch_too_large",
            f"At most {BULK_UPSERT_LIMIT} subscribers per call; got {len(items)}.",
            kind=ErrorKind.TOO_LARGE,
        )
    # The same id twice in one batch: later fields win, as if sent one after the other.
    merged: dict[str, dict[str, Any]] = {}
    positions: dict[str, int] = {}
    errors: Fields = {}
    for index, item in enumerate(items):
        fields = dict(item)
        subscriber_id = id_normalize(fields.pop("subscriber_id", None) or "")
        if not subscriber_id:
            errors[f"{index}.subscriber_id"] = ["This field is required."]
            continue
        try:
            cleaned = _clean_fields(fields)
        except ApplicationError as exc:
            for name, messages in (exc.fields or {}).items():
                errors[f"{index}.{name}"] = messages
            continue
        merged.setdefault(subscriber_id, {}).update(cleaned)
        positions.setdefault(subscriber_id, index)
    for subscriber_id, problem in _new_ids_problems(merged).items():
        errors[f"subscribers.{positions[subscriber_id]}.subscriber_id"] = [problem]
    if errors:
        raise validation_error(errors)
    if not merged:
        return 0, 0

    now = django_timezone.now()
    with transaction.atomic():
        existing = {
            subscriber.subscriber_id: subscriber
            for subscriber in Subscriber.objects.select_for_update().filter(
                subscriber_id__in=list(merged)
            )
        }
        # Existing rows are locked: write back their current values for fields not given,
        # so one UPDATE covers every row whatever fields each item carried.
        changed_fields: set[str] = set()
        for subscriber_id, subscriber in existing.items():
            for name, value in merged[subscriber_id].items():
                setattr(subscriber, name, value)
                changed_fields.add(name)
            subscriber.updated_at = now
        if existing:
            Subscriber.objects.bulk_update(
                list(existing.values()), sorted(changed_fields | {"updated_at"})
            )

        # New rows, one INSERT per distinct set of fields given (usually one). NOTE: a row
        # inserted concurrently since the SELECT is updated with the fields given, not lost.
        groups: dict[tuple[str, ...], list[Subscriber]] = {}
        for subscriber_id, fields in merged.items():
            if subscriber_id in existing:
                continue
            key = tuple(sorted(fields))
            groups.setdefault(key, []).append(Subscriber(subscriber_id=subscriber_id, **fields))
        for names, subscribers in groups.items():
            Subscriber.objects.bulk_create(
                subscribers,
                update_conflicts=True,
                unique_fields=["subscriber_id"],
                update_fields=[*names, "updated_at"],
            )
    created = len(merged) - len(existing)
    return created, len(existing)


def subscribers_ensure(
    *, subscriber_ids: Iterable[str], field: str = "subscribers"
) -> dict[str, int]:
    """subscriber_id → pk for every id (normalised), creating bare subscribers for unknown ids;
    `validation_error` on `field` if an unknown id breaks the id rule."""
    wanted = list(dict.fromkeys(id_normalize(subscriber_id) for subscriber_id in subscriber_ids))
    if not wanted:
        return {}
    found = dict(
        Subscriber.objects.filter(subscriber_id__in=wanted).values_list("subscriber_id", "pk")
    )
    missing = [subscriber_id for subscriber_id in wanted if subscriber_id not in found]
    invalid = {
        subscriber_id: problem
        for subscriber_id in missing
        if (problem := id_problem(subscriber_id)) is not None
    }
    if invalid:
        raise validation_error(
            {field: [f"'{subscriber_id}': {problem}" for subscriber_id, problem in invalid.items()]}
        )
    if missing:
        # One INSERT; ON CONFLICT DO NOTHING covers ids created concurrently.
        Subscriber.objects.bulk_create(
            [Subscriber(subscriber_id=subscriber_id) for subscriber_id in missing],
            ignore_conflicts=True,
        )
        found.update(
            Subscriber.objects.filter(subscriber_id__in=missing).values_list("subscriber_id", "pk")
        )
    return found


def subscriber_update(*, subscriber: Subscriber, **fields: Any) -> Subscriber:
    """Update the fields given (PATCH semantics)."""
    cleaned = _clean_fields(fields)
    if not cleaned:
        return subscriber
    for name, value in cleaned.items():
        setattr(subscriber, name, value)
    subscriber.save(update_fields=[*cleaned, "updated_at"])
    return subscriber


def subscriber_erase(*, subscriber: Subscriber) -> None:
    """GDPR erasure: the subscriber, its memberships and inbox go; deliveries stay, anonymised."""
    personal = [value for value in (subscriber.email, subscriber.phone) if value]
    with transaction.atomic():
        deliveries = Delivery.objects.filter(subscriber=subscriber)
        scrubbed: dict[str, Any] = {"subscriber_ref": None}
        # Provider errors often quote the address ("550 no such user a@b.c"): blank it out.
        last_error: Any = F("last_error")
        detail: Any = F("detail")
        for value in personal:
            last_error = Replace(last_error, Value(value), Value("[erased]"))
            detail = Replace(detail, Value(value), Value("[erased]"))
        if personal:
            scrubbed["last_error"] = last_error
            DeliveryEvent.objects.filter(delivery__subscriber=subscriber).update(detail=detail)
        deliveries.update(**scrubbed)
        # Notifications this person triggered keep a snapshot of them as `actor`: blank it,
        # keeping its keys so templates of deliveries still pending render. NOTE: a scan of
        # the tenant's notifications, acceptable for a rare operation.
        Notification.objects.filter(actor__subscriber_id=subscriber.subscriber_id).update(
            actor=ERASED_ACTOR
        )
        InboxMessage.objects.filter(subscriber=subscriber).delete()
        TopicSubscription.objects.filter(subscriber=subscriber).delete()
        # The FK sets Delivery.subscriber to NULL: statistics stay, the person does not.
        subscriber.delete()


def _credential_destination_errors(credentials: dict[str, Any]) -> Fields:
    """The credential URLs Clarion would connect to (a webhook URL, Web Push endpoints) that
    the outbound-destination guard refuses, by field."""
    urls: dict[str, Any] = {"webhook_url": credentials.get("webhook_url")}
    for index, subscription in enumerate(credentials.get("subscriptions") or []):
        if isinstance(subscription, dict):
            urls[f"subscriptions.{index}.endpoint"] = subscription.get("endpoint")
    return {
        field: [NOT_PUBLIC_FIELD]
        for field, url in urls.items()
        if isinstance(url, str) and url and destination_error(url)
    }


def subscriber_set_credentials(
    *, subscriber: Subscriber, provider: str, credentials: dict[str, Any]
) -> Subscriber:
    """Replace the subscriber's credentials for one provider (device tokens, webhook URL)."""
    if provider not in CREDENTIAL_PROVIDERS:
        raise validation_error(
            {"provider": [f"Unknown provider; use one of {', '.join(CREDENTIAL_PROVIDERS)}."]}
        )
    if refused := _credential_destination_errors(credentials):
        raise validation_error(refused)
    with transaction.atomic():
        # Lock, so two providers' credentials written at once both stay.
        locked = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        locked.credentials = {**(locked.credentials or {}), provider: credentials}
        locked.save(update_fields=["credentials", "updated_at"])
    return locked


def subscriber_set_preferences(
    *,
    subscriber: Subscriber,
    channels: dict[str, bool],
    workflows: dict[str, dict[str, bool]],
) -> Subscriber:
    """Replace the subscriber's channel and per-workflow preferences."""
    errors: Fields = {}
    for channel, enabled in channels.items():
        if channel not in PREFERENCE_CHANNELS or not isinstance(enabled, bool):
            errors.setdefault(f"channels.{channel}", []).append("Invalid channel preference.")
    for workflow, flags in workflows.items():
        for channel, enabled in (flags or {}).items():
            if channel not in PREFERENCE_CHANNELS or not isinstance(enabled, bool):
                errors.setdefault(f"workflows.{workflow}.{channel}", []).append(
                    "Invalid channel preference."
                )
    if errors:
        raise validation_error(errors)
    subscriber.preferences = {
        "channels": dict(channels),
        "workflows": {key: dict(flags or {}) for key, flags in workflows.items()},
    }
    subscriber.save(update_fields=["preferences", "updated_at"])
    return subscriber
