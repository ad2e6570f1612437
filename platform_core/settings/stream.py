"""The real-time inbox: Redis Streams written by the send path, read by the stream process."""

from .env import REDIS_URL, env

# Off: the send path and the inbox writes publish nothing (the REST inbox works as before).
INBOX_STREAM_ENABLED = env.bool("INBOX_STREAM_ENABLED", default=True)
INBOX_STREAM_REDIS_URL = env.str("INBOX_STREAM_REDIS_URL", default=REDIS_URL)
# A publish that takes longer is given up (logged); the send it follows has committed already.
INBOX_STREAM_REDIS_TIMEOUT_SECONDS = env.float("INBOX_STREAM_REDIS_TIMEOUT_SECONDS", default=0.5)
# Events kept per subscriber for reconnecting clients (`Last-Event-ID`); they are kept only
# for subscribers whose stream was open within the last INBOX_STREAM_TTL_SECONDS.
INBOX_STREAM_MAXLEN = env.int("INBOX_STREAM_MAXLEN", default=200)
INBOX_STREAM_TTL_SECONDS = env.int("INBOX_STREAM_TTL_SECONDS", default=3600)
# The stream process: open streams per process (beyond: 503), heartbeat comments, how long a
# host's tenant (schema, inbox secret, CORS origins) is cached.
INBOX_STREAM_MAX_CONNECTIONS = env.int("INBOX_STREAM_MAX_CONNECTIONS", default=10000)
INBOX_STREAM_HEARTBEAT_SECONDS = env.float("INBOX_STREAM_HEARTBEAT_SECONDS", default=15.0)
INBOX_STREAM_TENANT_CACHE_SECONDS = env.float("INBOX_STREAM_TENANT_CACHE_SECONDS", default=30.0)

# `make demo` only: serves /demo/inbox/ on the demo tenant's host (the widget, live), pointed
# at the stream process on STREAM_PORT of the same host name.
CLARION_DEMO_PAGES = env.bool("CLARION_DEMO_PAGES", default=False)
STREAM_PORT = env.int("STREAM_PORT", default=8001)
