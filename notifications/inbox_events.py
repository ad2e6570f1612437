"""What the web app, the workers and the stream process share about the real-time inbox.

Free of Django and of the ORM: the stream process (`notifications.stream`) imports it.

Each subscriber of each tenant has a capped Redis Stream, `clarion:inbox:<schema>:<id>`,
holding its latest inbox events (`message`, `count`); an event's stream id is its SSE `id:`.
Writers append with `XADD … MAXLEN ~ N` and `PUBLISH` the entry, with its id, on the channel
of the same name, in one Lua script, so that an open stream is pushed the event at once and a
reconnecting one reads what it missed with `XRANGE` from its `Last-Event-ID`.

Only subscribers seen on a stream lately get history: the stream process keeps a presence key
(`clarion:inbox-online:<schema>:<id>`, refreshed with every heartbeat, expiring after the resume
window) and the script writes nothing without it. A Redis Stream costs about 4.7 KB even with
one entry, so history for every recipient of a broadcast to 100,000 would hold ~470 MB; those
who are not watching read their inbox through the REST API when they come.
"""

from __future__ import annotations

import hashlib
import hmac
import json

KEY_PREFIX = "clarion:inbox:"
PRESENCE_PREFIX = "clarion:inbox-online:"
# KEYS: the stream, the presence key. The PUBLISH payload: "<stream id> <event> <data>" (an
# event name has no space).
# KEYS: stream, presence, last count's as-of; ARGV: maxlen, event, data, ttl, as-of ('' for
# a message). A count older than the one already appended is dropped: counts are read after
# their transaction commits, so a later read has seen every earlier write, but two writers'
# appends may still arrive out of order.
APPEND_SCRIPT = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
if ARGV[5] ~= '' then
  local last = redis.call('GET', KEYS[3])
  if last and tonumber(last) > tonumber(ARGV[5]) then
    return false
  end
  redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[4])
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[2], 'd', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[1], id .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])
return id
"""
EVENT_MESSAGE = "message"
EVENT_COUNT = "count"


def subscriber_hash(*, secret: str, subscriber_id: str) -> str:
    """hex(HMAC-SHA256(tenant inbox secret, subscriber_id)) — what a front end sends."""
    return hmac.new(secret.encode(), subscriber_id.encode(), hashlib.sha256).hexdigest()


def subscriber_hash_valid(*, secret: str, subscriber_id: str, provided: str) -> bool:
    """Constant-time check of a front end's subscriber hash."""
    expected = subscriber_hash(secret=secret, subscriber_id=subscriber_id)
    return hmac.compare_digest(expected, provided.strip().lower())


def stream_key(*, schema: str, subscriber_id: str) -> str:
    """The Redis key (and pub/sub channel) of one subscriber's inbox events."""
    return f"{KEY_PREFIX}{schema}:{subscriber_id}"


def presence_key(*, schema: str, subscriber_id: str) -> str:
    """Set while (and for a while after) the subscriber has a stream open."""
    return f"{PRESENCE_PREFIX}{schema}:{subscriber_id}"


def event_data(payload: dict) -> str:
    """An event's JSON, on one line (SSE `data:` lines end at a newline)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
