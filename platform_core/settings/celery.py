"""Celery: a Redis (default) or RabbitMQ broker, priority queues, JSON only, the tenant in
every task."""

from urllib.parse import urlsplit

from kombu import Queue

from .env import REDIS_URL, celery_broker_url, env

CELERY_BROKER_URL = celery_broker_url(env.str("CELERY_BROKER_URL", default=REDIS_URL))
CELERY_RESULT_BACKEND = celery_broker_url(env.str("CELERY_RESULT_BACKEND", default=REDIS_URL))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# `amqp://…` puts every queue on RabbitMQ; Redis stays the result, lock and limits store.
CELERY_BROKER_IS_AMQP = urlsplit(CELERY_BROKER_URL).scheme in ("amqp", "amqps", "pyamqp")
if CELERY_BROKER_IS_AMQP:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A publish returns once RabbitMQ has the message (publisher confirms), so an
        # enqueue that returned was not lost in the socket buffer.
        "confirm_publish": True,
        "read_timeout": 10,
        "write_timeout": 10,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Unacked messages come back after this long; nothing is scheduled with a broker
        # ETA, so it only bounds how late a lost worker's task is redelivered.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
    }
# A publish (enqueue on commit, in a request) fails fast when the broker is down: what it
# announces is committed, and the sweeper re-dispatches it. At worst about two connection
# attempts of `socket_connect_timeout` each, instead of Celery's three retries after the
# first and a 4 s connection budget.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"socket_connect_timeout": 5, "socket_timeout": 10}

# One queue per priority, each consumed by its own workers; `system` carries the sweepers.
# Priorities are separate queues, never message priorities inside one queue, so neither
# broker needs priority support (no `x-max-priority` on RabbitMQ). Durable on RabbitMQ.
CELERY_QUEUE_NAMES = ("critical", "high", "normal", "low", "system")
CELERY_TASK_QUEUES = [Queue(name, routing_key=name, durable=True) for name in CELERY_QUEUE_NAMES]
CELERY_TASK_DEFAULT_QUEUE = "normal"
CELERY_TASK_DEFAULT_ROUTING_KEY = "normal"

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_IGNORE_RESULT = True

# Ack after the task ran; a worker lost mid-task gets its message redelivered.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=10000)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
# Tenants are looked up once per worker process for this long, not on every task.
CELERY_TASK_TENANT_CACHE_SECONDS = env.int("CELERY_TASK_TENANT_CACHE_SECONDS", default=30)

CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# Celery's Django fix-up closes the database connection before and after every task unless
# this is set; a new PostgreSQL backend per task costs more than the task. Connections are
# instead checked the way Django checks them per request (CONN_MAX_AGE, errors), see
# platform_core.signals.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=10_000)
