"""API rate limits per API key (or inbox subscriber) and category, counted in Redis.

Limits are written `events=6000/60,config=300/60,read=1200/60,inbox=1200/60` (requests per
seconds; `category=off` for none): the defaults in API_RATE_LIMITS, a tenant's overrides in
`Tenant.api_rate_limits` (platform admin). Each limit is a fixed window that opens with the
first request of its key and lasts its period: one Lua script per request (INCR, and PEXPIRE
when the window opens), one Redis round trip, shared by every web process and host. When
Redis cannot be reached the request is let through and the failure logged (fail open).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings

from platform_core.errors import ApplicationError, ErrorKind

logger = logging.getLogger(__name__)

CATEGORIES = ("events", "config", "read", "inbox")
_ITEM = re.compile(r"^(?P<category>[a-z_]+)=(?:(?P<limit>\d+)/(?P<period>\d+)|(?P<off>off))$")
# While Redis is unreachable, log that at most this often per process.
_LOG_EVERY_SECONDS = 30.0

# KEYS[1] the counter; ARGV[1] the window in ms. Returns {count, ms until the window ends}.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {count, ttl}
"""


@dataclass(frozen=True)
class Limit:
    limit: int
    period: int  # seconds


@dataclass(frozen=True)
class Usage:
    """Where a key stands in its current window after this request."""

    category: str
    limit: int
    remaining: int
    reset: int  # seconds until the window ends
    allowed: bool
    period: int = 0  # seconds of the window

    def error(self) -> ApplicationError:
        """429 `rate_limited`, for a request past the limit."""
        return ApplicationError(
            "rate_limited",
            f"More than {self.limit} `{self.category}` requests in {self.period} s; "
            f"retry in {self.reset} s.",
            kind=ErrorKind.RATE_LIMITED,
            retry_after=self.reset,
        )

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


@lru_cache(maxsize=256)
def limits_parse(text: str) -> dict[str, Limit | None]:
    """`events=100/60,read=off` → {category: Limit or None (unlimited)}; ValueError if bad."""
    parsed: dict[str, Limit | None] = {}
    for raw in (text or "").split(","):
        item = raw.strip().replace(" ", "")
        if not item:
            continue
        match = _ITEM.match(item)
        if match is None:
            raise ValueError(f"'{raw.strip()}' is not category=limit/seconds or category=off.")
        category = match["category"]
        if category not in CATEGORIES:
            raise ValueError(f"Unknown category '{category}'; use {', '.join(CATEGORIES)}.")
        if match["off"]:
            parsed[category] = None
            continue
        limit, period = int(match["limit"]), int(match["period"])
        if limit < 1 or period < 1:
            raise ValueError(f"'{item}': the limit and the seconds must be at least 1.")
        parsed[category] = Limit(limit=limit, period=period)
    return parsed


def limits_for(*, overrides: str) -> dict[str, Limit | None]:
    """The limits of a tenant: the defaults (API_RATE_LIMITS) with its overrides on top."""
    return {**limits_parse(settings.API_RATE_LIMITS), **limits_parse(overrides or "")}


def key_for_api_key(*, schema: str, prefix: str, category: str) -> str:
    return f"clarion:rl:{schema}:key:{prefix}:{category}"


def key_for_subscriber(*, schema: str, subscriber_id: str, category: str) -> str:
    # Hashed: a subscriber id may be an email address, and keys are visible to operators.
    digest = hashlib.sha256(subscriber_id.encode()).hexdigest()[:24]
    return f"clarion:rl:{schema}:sub:{digest}:{category}"


@lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> tuple[redis.Redis, object]:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return client, client.register_script(_HIT)


_last_logged = 0.0


def _log_unavailable(exc: BaseException) -> None:
    global _last_logged
    now = time.monotonic()
    if now - _last_logged >= _LOG_EVERY_SECONDS:
        _last_logged = now
        logger.warning(
            "API rate limits not enforced: Redis is unavailable (failing open)",
            extra={"error_class": type(exc).__name__},
        )


def rate_limit_hit(*, key: str, category: str, limit: Limit) -> Usage | None:
    """Count one request against `key`; its usage, or None when Redis is unavailable."""
    url = settings.API_RATE_LIMIT_REDIS_URL
    client, script = _client(url, settings.API_RATE_LIMIT_REDIS_TIMEOUT_SECONDS)
    try:
        count, ttl_ms = script(keys=[key], args=[limit.period * 1000], client=client)
    except redis.RedisError as exc:
        _log_unavailable(exc)
        return None
    count, ttl_ms = int(count), int(ttl_ms)
    return Usage(
        category=category,
        limit=limit.limit,
        remaining=max(limit.limit - count, 0),
        reset=max(math.ceil(ttl_ms / 1000), 1),
        allowed=count <= limit.limit,
        period=limit.period,
    )


def rate_limit_spend(*, key: str, category: str, overrides: str) -> Usage | None:
    """Count one request of `category` against `key` under a tenant's limits (`overrides` on
    API_RATE_LIMITS); its usage, or None when the category is unlimited or Redis is down."""
    limit = limits_for(overrides=overrides).get(category)
    if limit is None:
        return None
    return rate_limit_hit(key=key, category=category, limit=limit)
