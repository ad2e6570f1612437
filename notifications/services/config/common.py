"""Shared by the configuration writes: field rules, limits, errors and advisory locks.

Every write runs in one transaction and validates what the API contract promises, raising
an `ApplicationError` (`validation_error` with `fields`, a conflict, or not found) so that
bad input changes nothing. Writes that must not interleave (a template deleted while a
workflow starts using it, two integrations made primary at once) are serialised with
transaction-scoped PostgreSQL advisory locks, keyed by tenant schema.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.validators import RegexValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Model

from platform_core.errors import ApplicationError, ErrorKind, validation_error

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


def _invalid(fields: Fields) -> ApplicationError:
    return validation_error(fields)


def _conflict(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, kind=ErrorKind.CONFLICT)


def _not_found(message: str) -> ApplicationError:
    return ApplicationError("not_found", message, kind=ErrorKind.NOT_FOUND)


def _insert(row: Row, *, conflict: ApplicationError) -> Row:
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
