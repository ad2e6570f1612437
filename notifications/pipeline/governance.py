"""Send governance in Redis: throttles per subscriber and provider rate limits.

Both are Lua scripts run by Redis itself (EVALSHA through redis-py), so every worker process
on every host shares one count and a check-and-count is atomic: two workers racing for the
last slot never both win. The clock is Redis's own (`TIME`), so workers' clocks need not
agree. Keys are made by the tenant-scoped cache's key function (tenant schema included).

- Throttles: a sliding-window log per (throttle, subscriber) — a sorted set of the delivery
  ids counted, scored by when (at most limit + 1 of them). A delivery is counted once, when
  it is about to be sent, and never refunded (a retry or a rescheduled send of the same
  delivery does not count again). A batch is checked in one round trip.
- Provider rate limits: GCRA (a token bucket kept as one timestamp) per integration, with a
  shared release horizon so deliveries rescheduled for capacity get distinct slots one
  interval apart instead of all waking at the same instant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from notifications.models import Integration, Priority, Throttle, Workflow
from platform_core.db_backend.prepared import model_columns, prepared_instances

RATE_MAX_PER_SECOND = 10_000
BURST_MAX = 100_000
THROTTLE_LIMIT_MAX = 1_000_000
THROTTLE_WINDOW_MAX_SECONDS = 31 * 24 * 3600

# ARGV: n, then per delivery: member, m, then m × (key index, limit, window ms).
# Returns per delivery 0 (sent: counted in each of its windows) or the 1-based position of
# the first throttle it is over (counted nowhere). A delivery counted already (a retry) is
# not counted again. Entries older than the window are trimmed only when the count is over
# the limit, so the usual check is three commands and a key holds at most limit + 1 entries.
_THROTTLE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local p = 1
local n = tonumber(ARGV[p]); p = p + 1
local out = {}
for i = 1, n do
  local member = ARGV[p]; local m = tonumber(ARGV[p + 1]); p = p + 2
  local denied = 0
  local added = {}
  for j = 1, m do
    local key = KEYS[tonumber(ARGV[p])]
    local limit = tonumber(ARGV[p + 1]); local window = tonumber(ARGV[p + 2]); p = p + 3
    if denied == 0 and redis.call('ZADD', key, 'NX', now, member) == 1 then
      local count = redis.call('ZCARD', key)
      if count > limit then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
        count = redis.call('ZCARD', key)
      end
      if count > limit then
        redis.call('ZREM', key, member)
        denied = j
      else
        added[#added + 1] = key
        redis.call('PEXPIRE', key, window)
      end
    end
  end
  if denied > 0 then
    for _, key in ipairs(added) do redis.call('ZREM', key, member) end
  end
  out[i] = denied
end
return out
"""

# KEYS: the bucket's theoretical arrival time, the release horizon (both ms, Redis time).
# ARGV: emission interval (ms), burst, mode ('take' | 'release'), count (release).
# take → {1, 0} with a token taken, or {0, ms until one frees};
# release → {ms until the first of `count` slots, interval}: slots one interval apart from
# when a token frees, after every slot handed out before.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if ARGV[3] == 'take' then
  if tat - now <= tolerance then
    local next_tat = tat + interval
    redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil(next_tat - now) + 1000)
    return {1, '0'}
  end
  return {0, tostring(tat - tolerance - now)}
end
local start = tat - tolerance
local horizon = tonumber(redis.call('GET', KEYS[2]) or '0')
if horizon > start then start = horizon end
local last = start + tonumber(ARGV[4]) * interval
redis.call('SET', KEYS[2], tostring(last), 'PX', math.ceil(last - now) + 1000)
return {tostring(start - now), tostring(interval)}
"""

_scripts: dict[str, Any] = {}


def _redis():
    """The raw client of the default cache's Redis (keys still come from `cache.make_key`)."""
    return cache._cache.get_client(write=True)


def _run(name: str, source: str, keys: Sequence[str], args: Sequence[Any]):
    client = _redis()
    if name not in _scripts:
        _scripts[name] = client.register_script(source)
    return _scripts[name](keys=list(keys), args=list(args), client=client)


# --- throttles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottleCheck:
    """One delivery about to be sent, as the throttles see it."""

    delivery_id: int
    subscriber_pk: int
    workflow_id: int | None
    priority: str


def throttle_reason(throttle: Throttle) -> str:
    """The `last_error` of a delivery skipped by `throttle`."""
    return f"throttled by {throttle.label}"


_THROTTLES_SQL = (
    f"SELECT {model_columns(Throttle, 't')} FROM {Throttle._meta.db_table} t "
    "WHERE t.channel = '' OR t.channel = %(channel)s ORDER BY t.id"
)


@dataclass
class ThrottleGate:
    """The throttles of one send batch's channel, read once; checks many deliveries at once."""

    channel: str
    _throttles: list[Throttle] | None = None
    # workflow id → (key, critical), read once per workflow and batch.
    _workflows: dict[int, tuple[str, bool]] = field(default_factory=dict)

    @property
    def throttles(self) -> list[Throttle]:
        if self._throttles is None:
            self._throttles = prepared_instances(
                Throttle, _THROTTLES_SQL, {"channel": self.channel}
            )
        return self._throttles

    def _load_workflows(self, ids: set[int]) -> None:
        wanted = ids - set(self._workflows)
        if wanted:
            rows = Workflow.objects.filter(pk__in=wanted).values_list("pk", "key", "critical")
            self._workflows.update({pk: (key, critical) for pk, key, critical in rows})

    def _applicable(self, check: ThrottleCheck) -> list[Throttle]:
        key, critical = self._workflows.get(check.workflow_id, ("", False))
        critical = critical or check.priority == Priority.CRITICAL
        return [
            t
            for t in self.throttles
            if (not t.workflow_key or t.workflow_key == key)
            and (t.applies_to_critical or not critical)
        ]

    def over(self, checks: Sequence[ThrottleCheck]) -> dict[int, str]:
        """Count the deliveries that may go; delivery id → skip reason for the others.

        One Redis round trip for the whole sequence (none when no throttle applies), in
        order: an earlier delivery of a subscriber takes the slot before a later one.
        """
        if not checks or not self.throttles:
            return {}
        self._load_workflows({c.workflow_id for c in checks if c.workflow_id is not None})
        # The cache's key function (tenant schema included) once per throttle, not per key.
        prefixes = {t.pk: cache.make_key(f"throttle:{t.key}:") for t in self.throttles}
        keys: dict[str, int] = {}
        args: list[Any] = []
        asked: list[tuple[ThrottleCheck, list[Throttle]]] = []
        applicable: dict[tuple, list[Throttle]] = {}
        for check in checks:
            kind = (check.workflow_id, check.priority)
            if kind not in applicable:
                applicable[kind] = self._applicable(check)
            throttles = applicable[kind]
            if not throttles or check.subscriber_pk is None:
                continue
            asked.append((check, throttles))
            args += [check.delivery_id, len(throttles)]
            for throttle in throttles:
                name = f"{prefixes[throttle.pk]}{check.subscriber_pk}"
                index = keys.setdefault(name, len(keys) + 1)
                args += [index, throttle.limit, throttle.window_seconds * 1000]
        if not asked:
            return {}
        denied = _run("throttle", _THROTTLE_LUA, list(keys), [len(asked), *args])
        return {
            check.delivery_id: throttle_reason(throttles[int(position) - 1])
            for (check, throttles), position in zip(asked, denied, strict=True)
            if int(position)
        }


# --- provider rate limits -------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """An integration's send rate: `per_second` on average, at most `burst` at once."""

    per_second: float
    burst: int

    @property
    def interval_ms(self) -> float:
        return 1000.0 / self.per_second

    def describe(self) -> str:
        rate = f"{self.per_second:g}"
        return f"{rate}/s (burst {self.burst})"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def rate_limit_errors(settings: Mapping[str, Any]) -> dict[str, list[str]]:
    """Problems with an integration's `rate_limit_per_second` and `burst` settings."""
    errors: dict[str, list[str]] = {}
    rate = settings.get("rate_limit_per_second")
    burst = settings.get("burst")
    if rate is not None and (not _is_number(rate) or not 0 < rate <= RATE_MAX_PER_SECOND):
        errors["settings.rate_limit_per_second"] = [
            f"Enter a number of sends per second above 0 and at most {RATE_MAX_PER_SECOND}."
        ]
    if burst is not None:
        if rate is None:
            errors["settings.burst"] = ["Only with settings.rate_limit_per_second."]
        elif not isinstance(burst, int) or isinstance(burst, bool) or not 1 <= burst <= BURST_MAX:
            errors["settings.burst"] = [f"Enter a whole number from 1 to {BURST_MAX}."]
    return errors


def rate_limit_of(settings: Mapping[str, Any]) -> RateLimit | None:
    """The rate limit an integration's settings set, or None (validated on save)."""
    rate = settings.get("rate_limit_per_second")
    if rate is None or rate_limit_errors(settings):
        return None
    return RateLimit(per_second=float(rate), burst=int(settings.get("burst") or 1))


@dataclass
class ProviderPacer:
    """The rate limits of a batch's integrations, read once; tokens taken one send at a time."""

    _limits: dict[int, RateLimit | None] = field(default_factory=dict)

    def limit(self, integration: Integration) -> RateLimit | None:
        if integration.pk not in self._limits:
            self._limits[integration.pk] = rate_limit_of(integration.settings or {})
        return self._limits[integration.pk]

    @staticmethod
    def _keys(integration: Integration) -> list[str]:
        # The creation time makes an integration deleted and created again start afresh.
        base = f"ratelimit:{integration.pk}:{int(integration.created_at.timestamp())}"
        return [cache.make_key(f"{base}:tat"), cache.make_key(f"{base}:horizon")]

    def take(self, integration: Integration) -> bool:
        """Take a token for one send; False when the bucket is empty (nothing is taken)."""
        limit = self.limit(integration)
        if limit is None:
            return True
        taken, _ = _run(
            "gcra", _GCRA_LUA, self._keys(integration), [limit.interval_ms, limit.burst, "take", 0]
        )
        return bool(int(taken))

    def release_delays(self, integration: Integration, count: int) -> list[float]:
        """Seconds from now until each of `count` sends may try again, one interval apart."""
        limit = self.limit(integration)
        if limit is None or count <= 0:
            return [0.0] * max(count, 0)
        first, interval = _run(
            "gcra",
            _GCRA_LUA,
            self._keys(integration),
            [limit.interval_ms, limit.burst, "release", count],
        )
        first, interval = float(first) / 1000, float(interval) / 1000
        return [max(first, 0.0) + i * interval for i in range(count)]

    def waiting_detail(self, integration: Integration) -> str:
        """The history detail of a delivery rescheduled for capacity."""
        limit = self.limit(integration)
        return (
            f"rate limited: integration '{integration.name}' allows {limit.describe()}; "
            "rescheduled for when capacity frees"
        )
