"""Phone numbers for the SMS connectors: E.164 checks and masking (phonenumbers)."""

from __future__ import annotations

from typing import Any

import phonenumbers

from connectors.base import REQUIRED, PermanentError, Recipient


def e164_errors(value: Any) -> list[str]:
    """Problems with a sender number that must be written in E.164 (`+14155552671`)."""
    if value in (None, ""):
        return [REQUIRED]
    if not isinstance(value, str):
        return ["Enter a phone number in E.164 format, e.g. +14155552671."]
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return ["Enter a phone number in E.164 format, e.g. +14155552671."]
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number) or e164 != value:
        return ["Enter a valid phone number in E.164 format, e.g. +14155552671."]
    return []


def recipient_phone(recipient: Recipient) -> str:
    """The recipient's number in E.164; PermanentError without a usable one."""
    if not recipient.phone:
        raise PermanentError("the subscriber has no phone number")
    try:
        number = phonenumbers.parse(recipient.phone, None)
    except phonenumbers.NumberParseException:
        raise PermanentError("the subscriber's phone number is not in E.164 format") from None
    if not phonenumbers.is_possible_number(number):
        raise PermanentError("the subscriber's phone number is not a possible number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str | None) -> str:
    """`+14155552671` → `+1*******71`: enough to tell numbers apart in dev output."""
    if not phone:
        return "-"
    return phone[:2] + "*" * max(len(phone) - 4, 0) + phone[-2:]
