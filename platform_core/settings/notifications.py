"""The delivery pipeline: retries, leases, sweeping, batching, provider calls."""

from .env import env

# Fernet keys for integration credentials, newest first (rotation keeps old ones last).
# Empty: derived from SECRET_KEY.
CLARION_ENCRYPTION_KEYS = env.list("CLARION_ENCRYPTION_KEYS", default=[])
CLARION_DEFAULT_LOCALE = env.str("CLARION_DEFAULT_LOCALE", default="en")

# Retries: exponential backoff with full jitter, base * 2^(attempt-1), capped.
DELIVERY_RETRY_BASE_SECONDS = env.float("DELIVERY_RETRY_BASE_SECONDS", default=10.0)
DELIVERY_RETRY_MAX_SECONDS = env.float("DELIVERY_RETRY_MAX_SECONDS", default=3600.0)
# A claimed delivery whose worker vanished is retried once its lease has run out.
DELIVERY_LEASE_SECONDS = env.int("DELIVERY_LEASE_SECONDS", default=120)
# A queued delivery or accepted notification whose broker message is this old is re-sent to
# the broker (a flushed Redis, a lost message); claims make the duplicate message harmless.
DELIVERY_REDISPATCH_SECONDS = env.int("DELIVERY_REDISPATCH_SECONDS", default=300)
# Accepted events are published to the workers in one task per queue and tenant for every
# this many milliseconds of triggers a web process accepts (0: one task per event, at once).
CLARION_DISPATCH_GATHER_MS = env.float("CLARION_DISPATCH_GATHER_MS", default=25.0)
SWEEP_INTERVAL_SECONDS = env.float("SWEEP_INTERVAL_SECONDS", default=5.0)
SWEEP_BATCH_SIZE = env.int("SWEEP_BATCH_SIZE", default=5000)

# Fan-out reads recipients in chunks of this size and writes deliveries in bulk.
FANOUT_CHUNK_SIZE = env.int("FANOUT_CHUNK_SIZE", default=2000)
# Deliveries per send task, by channel (in-app is one SQL statement per batch).
SEND_BATCH_SIZES = {
    "in_app": env.int("SEND_BATCH_SIZE_IN_APP", default=1000),
    "email": env.int("SEND_BATCH_SIZE_EMAIL", default=100),
    "sms": env.int("SEND_BATCH_SIZE_SMS", default=50),
    "push": env.int("SEND_BATCH_SIZE_PUSH", default=100),
    "chat": env.int("SEND_BATCH_SIZE_CHAT", default=50),
}
# A send task stops taking new deliveries after this long and hands the rest back.
SEND_BATCH_TIME_BUDGET_SECONDS = env.float("SEND_BATCH_TIME_BUDGET_SECONDS", default=30.0)

# Every provider call has these timeouts.
PROVIDER_CONNECT_TIMEOUT_SECONDS = env.float("PROVIDER_CONNECT_TIMEOUT_SECONDS", default=5.0)
PROVIDER_TIMEOUT_SECONDS = env.float("PROVIDER_TIMEOUT_SECONDS", default=15.0)
# Provider calls to private, loopback or link-local addresses are refused (tenants supply
# URLs); allow them for development, tests or an internal relay.
CLARION_ALLOW_PRIVATE_DESTINATIONS = env.bool("CLARION_ALLOW_PRIVATE_DESTINATIONS", default=False)
# After this many consecutive transient failures an integration's circuit opens for a while.
CIRCUIT_BREAKER_THRESHOLD = env.int("CIRCUIT_BREAKER_THRESHOLD", default=5)
CIRCUIT_BREAKER_COOLDOWN_SECONDS = env.int("CIRCUIT_BREAKER_COOLDOWN_SECONDS", default=30)

# Shifts the clock quiet hours and send windows are evaluated against, in seconds (0 in
# production; to rehearse a schedule in staging, and in the test suite).
SEND_WINDOW_CLOCK_OFFSET_SECONDS = env.float("SEND_WINDOW_CLOCK_OFFSET_SECONDS", default=0.0)

IDEMPOTENCY_RETRY_AFTER_SECONDS = 1

# Bounded rendering of tenant templates (sends, previews and the trial render on save).
# A render that goes over a limit fails: 400 on save, the delivery dead at send.
# Wall-clock time one message (all its fields) may take to render.
RENDER_TIME_BUDGET_SECONDS = env.float("RENDER_TIME_BUDGET_SECONDS", default=0.5)
# Characters one rendered message (subject, body and link together) may have, by channel.
RENDER_MAX_OUTPUT = {
    "email": env.int("RENDER_MAX_OUTPUT_EMAIL", default=262_144),
    "sms": env.int("RENDER_MAX_OUTPUT_SMS", default=1_600),
    "push": env.int("RENDER_MAX_OUTPUT_PUSH", default=4_096),
    "chat": env.int("RENDER_MAX_OUTPUT_CHAT", default=40_000),
    "in_app": env.int("RENDER_MAX_OUTPUT_IN_APP", default=16_384),
}
# Characters a render may build in all (concatenations, formatting, joins, output into
# macros and blocks), whether output or not.
RENDER_MAX_BUILD_CHARS = env.int("RENDER_MAX_BUILD_CHARS", default=4_000_000)
# The largest width, precision or count a template may pass to something that allocates
# it (center, indent, ljust, '%10s', '{:>10}', tojson indent, batch, slice).
RENDER_MAX_WIDTH = env.int("RENDER_MAX_WIDTH", default=1_000)

# Delivery feedback told outwards (notifications.pipeline.feedback).
# How often the history feed runs per tenant (events → webhook messages; due ones → senders).
WEBHOOK_FEED_INTERVAL_SECONDS = env.float("WEBHOOK_FEED_INTERVAL_SECONDS", default=5.0)
WEBHOOK_FEED_BATCH_SIZE = env.int("WEBHOOK_FEED_BATCH_SIZE", default=2000)
WEBHOOK_FEED_MAX_BATCHES = env.int("WEBHOOK_FEED_MAX_BATCHES", default=25)
# Due messages claimed per tenant and tick, and posted per send task.
WEBHOOK_CLAIM_LIMIT = env.int("WEBHOOK_CLAIM_LIMIT", default=2000)
WEBHOOK_SEND_BATCH_SIZE = env.int("WEBHOOK_SEND_BATCH_SIZE", default=50)
# The queue webhook posts run on: slow tenant endpoints never hold the delivery queues.
WEBHOOK_QUEUE = env.str("WEBHOOK_QUEUE", default="low")
# A claimed message whose worker vanished is due again after this long.
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=300)
# Retries: base * 2^(attempt-1) with jitter, capped; then given up.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=6 * 3600.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=15)
# An endpoint whose every attempt failed for this long is turned off (5 days by default).
WEBHOOK_DISABLE_AFTER_SECONDS = env.float("WEBHOOK_DISABLE_AFTER_SECONDS", default=5 * 86400.0)
# One-click unsubscribe (RFC 8058): also offer this mailto in List-Unsubscribe when set.
UNSUBSCRIBE_MAILTO = env.str("UNSUBSCRIBE_MAILTO", default="")

CELERY_BEAT_SCHEDULE = {
    "deliveries-sweep": {
        "task": "notifications.deliveries_sweep",
        "schedule": SWEEP_INTERVAL_SECONDS,
        "options": {"queue": "system", "expires": SWEEP_INTERVAL_SECONDS * 4},
    },
    "feedback-feed": {
        "task": "notifications.feedback_feed",
        "schedule": WEBHOOK_FEED_INTERVAL_SECONDS,
        "options": {"queue": "system", "expires": WEBHOOK_FEED_INTERVAL_SECONDS * 4},
    },
}
