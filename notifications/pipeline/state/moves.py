"""The statuses a delivery moves through, and the one table of the moves it may make."""

from __future__ import annotations

from collections.abc import Iterable

from notifications.models import DeliveryStatus

S = DeliveryStatus
# The from-status of a delivery that is being created.
NEW = ""

# Which status a delivery may move to from each status. Self-moves record an event (a
# re-dispatch) without changing the status.
MOVES: dict[str, frozenset[str]] = {
    NEW: frozenset({S.PENDING, S.QUEUED, S.SKIPPED}),
    S.PENDING: frozenset({S.QUEUED, S.DIGESTED, S.SKIPPED}),
    # queued → pending: not yet claimed, made to wait (quiet hours, a send window, a
    # provider's rate limit).
    S.QUEUED: frozenset({S.QUEUED, S.PENDING, S.SENDING, S.SENT, S.DEAD, S.SKIPPED, S.DIGESTED}),
    S.SENDING: frozenset({S.SENT, S.FAILED, S.DEAD, S.PENDING, S.SKIPPED, S.QUEUED}),
    S.FAILED: frozenset({S.QUEUED}),
    S.DEAD: frozenset({S.QUEUED}),
    S.SENT: frozenset({S.DELIVERED, S.OPENED, S.CLICKED, S.BOUNCED}),
    S.DELIVERED: frozenset({S.OPENED, S.CLICKED, S.BOUNCED}),
    S.OPENED: frozenset({S.CLICKED}),
    S.CLICKED: frozenset(),
    S.BOUNCED: frozenset(),
    S.SKIPPED: frozenset(),
    S.DIGESTED: frozenset(),
}

# What a provider's outcome (or a tracked click or open) moves a delivery to, when the table
# allows it from the delivery's status; any other outcome (a soft bounce, a deferral, a
# complaint, ...) or a move the table refuses (a late `delivered` after `clicked`) is
# recorded in the history without changing the status: a status never moves backwards.
OUTCOME_STATUS: dict[str, str] = {
    "delivered": S.DELIVERED,
    "bounced": S.BOUNCED,
    "opened": S.OPENED,
    "clicked": S.CLICKED,
}


def statuses_moving_to(to_status: str) -> tuple[str, ...]:
    """Every status the table lets a delivery leave for `to_status` (sorted)."""
    return tuple(sorted(s for s, targets in MOVES.items() if s != NEW and to_status in targets))


# Statuses a replay may send again, and statuses an inbox read turns into `opened`.
REPLAYABLE = (S.DEAD, S.FAILED)
OPENABLE = (S.SENT, S.DELIVERED)
# Statuses the sweeper wakes when their time has come (delays, digest windows, retries).
WAITING = (S.PENDING, S.FAILED)


class IllegalMove(ValueError):
    """A status change that the table of moves does not allow."""


def check_move(from_statuses: Iterable[str], to_status: str) -> None:
    """Refuse a move the table does not allow; raises IllegalMove."""
    for from_status in from_statuses:
        if to_status not in MOVES.get(from_status, ()):
            raise IllegalMove(f"a delivery cannot move from {from_status or 'new'} to {to_status}")
