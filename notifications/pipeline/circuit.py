"""A circuit breaker per integration, kept in Redis (through the tenant-scoped cache).

After CIRCUIT_BREAKER_THRESHOLD consecutive transient failures an integration is skipped for
CIRCUIT_BREAKER_COOLDOWN_SECONDS: its deliveries fail over to the next integration of the
channel, or wait, instead of spending worker time on a provider that is down.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def _failures_key(integration_id: int) -> str:
    return f"circuit:{integration_id}:failures"


def _open_key(integration_id: int) -> str:
    return f"circuit:{integration_id}:open"


def circuit_is_open(*, integration_id: int) -> bool:
    return bool(cache.get(_open_key(integration_id)))


def circuit_record_success(*, integration_id: int) -> None:
    cache.delete(_failures_key(integration_id))


def circuit_record_failure(*, integration_id: int) -> bool:
    """Count a transient failure; True if this one opened the circuit."""
    key = _failures_key(integration_id)
    cooldown = settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS
    if cache.add(key, 1, timeout=cooldown * 4):
        failures = 1
    else:
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=cooldown * 4)
            failures = 1
    if failures >= settings.CIRCUIT_BREAKER_THRESHOLD:
        cache.set(_open_key(integration_id), 1, timeout=cooldown)
        cache.delete(key)
        return True
    return False
