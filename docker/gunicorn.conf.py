"""Gunicorn settings for the web process (used by `make demo` and the Docker image)."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# gthread, answering gunicorn's own errors (unparseable requests) in the JSON error envelope.
worker_class = "platform_core.gunicorn_worker.JsonErrorThreadWorker"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = None
errorlog = "-"
# Requests are logged as JSON by the application itself; gunicorn's own lines stay terse.
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")


def child_exit(server, worker):
    """Drop a dead worker's Prometheus samples (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
