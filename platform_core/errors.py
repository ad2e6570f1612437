"""Application errors: what domain code raises when a request cannot be carried out.

An `ApplicationError` carries a stable `code`, a human `message`, optional per-field
`fields` and a `kind` saying what went wrong. It knows nothing of HTTP: the API layer maps
kinds to status codes and the error envelope (`platform_core.api.errors`), the admin shows
the message and fields on its forms (`notifications.admin.common`).

`OUTAGE_ERRORS` are the exceptions a dependency that is down raises (PostgreSQL, Redis, the
broker); callers turn them into "unavailable, retry later", never an internal error.
"""

from __future__ import annotations

import enum

import kombu.exceptions
import psycopg
import redis.exceptions
from django.db import InterfaceError, OperationalError

Fields = dict[str, list[str]]


class ErrorKind(enum.Enum):
    VALIDATION = "validation"  # the input is not valid; `fields` names what
    UNAUTHENTICATED = "unauthenticated"  # missing or wrong credentials or signature
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # clashes with the current state (exists, in use, in flight)
    UNPROCESSABLE = "unprocessable"  # well-formed, but cannot be acted upon
    TOO_LARGE = "too_large"  # more items than one call takes
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"  # a dependency is down; retry later


class ApplicationError(Exception):
    """A request that cannot be carried out, with a stable code and a message for people."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        kind: ErrorKind,
        fields: Fields | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.fields = fields
        # Seconds after which the same request may succeed (in flight, rate limited, down).
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ApplicationError({self.code!r}, {self.message!r}, kind={self.kind.name})"


def validation_error(
    fields: Fields, message: str = "The request is not valid."
) -> ApplicationError:
    """The error for invalid input, naming each invalid field."""
    return ApplicationError("validation_error", message, kind=ErrorKind.VALIDATION, fields=fields)


OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,  # Django's wrapper of the driver's, e.g. connection refused
    InterfaceError,  # a connection already closed
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
# Seconds a client is told to wait when a dependency is down.
OUTAGE_RETRY_AFTER_SECONDS = 5


def is_outage(exc: BaseException | None) -> bool:
    """Whether `exc`, or an exception it was raised from (`raise ... from`), says a dependency
    is down."""
    for _ in range(10):
        if exc is None:
            return False
        if isinstance(exc, OUTAGE_ERRORS):
            return True
        exc = exc.__cause__
    return False
