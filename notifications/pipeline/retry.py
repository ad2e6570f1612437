"""Retry policy: when a failed delivery is tried again, and when it is dead-lettered.

Retries are scheduled in the database (`next_attempt_at`, woken by the sweeper), never slept
for in a worker and never left to a broker ETA (Redis redelivers long ETAs again and again).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone


def retry_delay_seconds(*, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter in [cap/2, cap]; a provider's Retry-After is a floor.

    cap = DELIVERY_RETRY_BASE_SECONDS * 2^(attempt-1), at most DELIVERY_RETRY_MAX_SECONDS.
    """
    cap = min(
        settings.DELIVERY_RETRY_MAX_SECONDS,
        settings.DELIVERY_RETRY_BASE_SECONDS * (2 ** max(attempt - 1, 0)),
    )
    delay = random.uniform(cap / 2, cap)
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), settings.DELIVERY_RETRY_MAX_SECONDS))
    return delay


@dataclass(frozen=True)
class FailureDecision:
    """What becomes of a delivery whose attempt failed."""

    dead: bool
    next_attempt_at: datetime | None
    message: str


def failure_decide(
    *,
    error: BaseException,
    permanent: bool,
    attempts: int,
    max_attempts: int,
    retry_after: float | None = None,
) -> FailureDecision:
    """Dead-letter a permanent error or an exhausted budget; otherwise schedule a retry."""
    message = str(error)[:1000]
    if permanent:
        return FailureDecision(dead=True, next_attempt_at=None, message=message)
    if attempts >= max_attempts:
        return FailureDecision(
            dead=True, next_attempt_at=None, message=f"attempts exhausted ({attempts}): {message}"
        )
    delay = retry_delay_seconds(attempt=attempts, retry_after=retry_after)
    return FailureDecision(
        dead=False, next_attempt_at=timezone.now() + timedelta(seconds=delay), message=message
    )
