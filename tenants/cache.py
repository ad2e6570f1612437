"""Per-process caches of what every API request reads first: a host's tenant and an API key.

Both are read before any view runs, on every request, and change rarely, so each process
keeps them for `CLARION_AUTH_CACHE_SECONDS` (0 turns the caches off). Only hits are kept: an
unknown host or key is looked up every time. Revoking a key forgets it in the process that
revoked it at once; every other process stops accepting it within that many seconds, as it
does a deactivated tenant or a changed domain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from cachetools import TTLCache
from django.conf import settings

T = TypeVar("T")

# Hosts and keys one process serves; beyond this many, the least recently used go.
MAXSIZE = 4096

_lock = threading.Lock()
_caches: dict[str, TTLCache] = {}


def _cache(name: str) -> TTLCache | None:
    ttl = settings.CLARION_AUTH_CACHE_SECONDS
    if ttl <= 0:
        return None
    with _lock:
        cache = _caches.get(name)
        if cache is None or cache.ttl != ttl:
            cache = _caches[name] = TTLCache(maxsize=MAXSIZE, ttl=ttl)
        return cache


def cached(name: str, key: str, load: Callable[[], T | None]) -> T | None:
    """The value cached under `key`, else `load()` — kept only when it is not None."""
    cache = _cache(name)
    if cache is None:
        return load()
    with _lock:
        value = cache.get(key)
    if value is None:
        value = load()
        if value is not None:
            with _lock:
                cache[key] = value
    return value


def forget(name: str, key: str) -> None:
    with _lock:
        cache = _caches.get(name)
        if cache is not None:
            cache.pop(key, None)


def clear() -> None:
    """Forget everything (a test's fresh tenants reuse the hosts of the previous test's)."""
    with _lock:
        for cache in _caches.values():
            cache.clear()
