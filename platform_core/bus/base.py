"""What every bus consumer shares: the handler contract, outcomes, stopping and backoff.

A consumer reads messages from one source (a Redis stream, a RabbitMQ queue), gives each
body to a handler, and acknowledges it only once the handler has returned: the handler
commits what the message asked for before it returns, so a consumer killed at any point
leaves the message to be delivered again, never lost. Handlers are idempotent (the trigger
deduplicates by `transaction_id`), so delivering again is safe.
"""

from __future__ import annotations

import enum
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("platform_core.bus")

# Retries of a message whose handler said "later" wait this long at first, doubling to the max.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class Rejected(Exception):  # noqa: N818 - an outcome, not a failure of the consumer
    """The message can never be accepted: it goes to the dead-letter destination, then is
    acknowledged. `error` is the error envelope's inside: `{code, message, fields?}`."""

    def __init__(self, error: dict):
        super().__init__(error.get("message", ""))
        self.error = error


class RetryLater(Exception):  # noqa: N818 - an outcome, not a failure of the consumer
    """The message may be accepted later (a dependency is down, the same key is in flight):
    it stays unacknowledged and is handled again after a backoff."""

    def __init__(self, reason: str, delay: float | None = None):
        super().__init__(reason)
        self.delay = delay


@dataclass(frozen=True)
class Message:
    """One message as a handler sees it: its body and an id stable across redeliveries
    where the transport has one (a stream entry id, an AMQP `message_id`), else None."""

    body: bytes
    stable_id: str | None
    source: str


# Accepts a message (committing its effect before returning) or raises Rejected / RetryLater.
Handler = Callable[[Message], object]


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    STOPPED = "stopped"  # a stop was asked for while the message waited for a retry


@dataclass
class Counts:
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    reclaimed: int = 0

    def summary(self) -> str:
        return (
            f"{self.accepted} accepted, {self.rejected} dead-lettered, "
            f"{self.retried} retries, {self.reclaimed} reclaimed"
        )


class Stopper:
    """A stop asked for by SIGTERM or SIGINT: the current message is finished first."""

    def __init__(self):
        self._event = threading.Event()

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        if not self._event.is_set():
            logger.info("stop requested; finishing the current message", extra={"signal": signum})
        self._event.set()

    def stop(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if a stop was asked for meanwhile."""
        return self._event.wait(seconds)


def handle(handler: Handler, message: Message, stopper: Stopper, counts: Counts) -> tuple:
    """Run `handler` on `message` until it is accepted or rejected: (Outcome, error or None).

    A RetryLater waits (backoff, or the delay the handler asked for) and tries again, so one
    message is never skipped past; a stop asked for meanwhile ends the wait with STOPPED and
    the message stays unacknowledged for the transport to deliver again.
    """
    delay = RETRY_FIRST_SECONDS
    while True:
        try:
            handler(message)
        except Rejected as exc:
            return Outcome.REJECTED, exc.error
        except RetryLater as exc:
            counts.retried += 1
            wait = exc.delay if exc.delay is not None else delay
            logger.warning(
                "message not accepted yet; retrying",
                extra={"source": message.source, "reason": str(exc)[:200], "retry_in": wait},
            )
            if stopper.wait(wait):
                return Outcome.STOPPED, None
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            continue
        return Outcome.ACCEPTED, None


def dead_letter_error(error: dict) -> str:
    """The error as stored beside a dead-lettered message: compact JSON."""
    return json.dumps(error, separators=(",", ":"), sort_keys=True, default=str)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
