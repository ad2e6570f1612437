"""Path-safe ids: the rule for subscriber ids and topic keys, and how ids are normalised.

An id is 1-255 characters (a topic key 1-100) of ASCII letters, digits and `- _ . : @ +`,
and is neither `.` nor `..` (which URL clients resolve as path segments). Such an id goes
into a URL path as it is, on every server and proxy. Leading and trailing whitespace is
dropped, on write and on lookup alike, so `" user-1 "` names `user-1` everywhere.

The rule applies to ids being created. A subscriber stored before it (e.g. with a `/`) can
still be named wherever an id is taken, and reached in a URL path with its `/` as it is or
percent-encoded (`%2F`).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

SUBSCRIBER_ID_MAX_LENGTH = 255
TOPIC_KEY_MAX_LENGTH = 100
ID_CHARACTERS = "ASCII letters, digits and - _ . : @ +"
SUBSCRIBER_ID_HELP = (
    f"Your own id for the subscriber: 1-{SUBSCRIBER_ID_MAX_LENGTH} {ID_CHARACTERS} "
    "(not '.' or '..'); surrounding spaces are dropped."
)
TOPIC_KEY_HELP = (
    f"1-{TOPIC_KEY_MAX_LENGTH} {ID_CHARACTERS} (not '.' or '..'); surrounding spaces are dropped."
)

_ID_RE = re.compile(r"[A-Za-z0-9_.:@+-]+")


def id_normalize(value: str) -> str:
    """The id as stored and looked up: without surrounding whitespace."""
    return value.strip()


def id_problem(value: str, *, max_length: int = SUBSCRIBER_ID_MAX_LENGTH) -> str | None:
    """Why `value` (normalised) is not a valid new id, or None when it is."""
    if not value:
        return "This field may not be blank."
    if len(value) > max_length:
        return f"Ensure this field has no more than {max_length} characters."
    if not _ID_RE.fullmatch(value) or value in (".", ".."):
        return f"Use only {ID_CHARACTERS} (and not '.' or '..')."
    return None


def subscriber_id_validator(value: str) -> None:
    """Django/DRF validator: a valid new subscriber id."""
    problem = id_problem(value, max_length=SUBSCRIBER_ID_MAX_LENGTH)
    if problem:
        raise ValidationError(problem, code="invalid_id")


def topic_key_validator(value: str) -> None:
    """Django/DRF validator: a valid new topic key."""
    problem = id_problem(value, max_length=TOPIC_KEY_MAX_LENGTH)
    if problem:
        raise ValidationError(problem, code="invalid_id")
