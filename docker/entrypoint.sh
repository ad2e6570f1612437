#!/usr/bin/env bash
# Clarion container entrypoint: one role per container, chosen by the first argument.
#
#   web                          gunicorn (docker/gunicorn.conf.py); extra args go to gunicorn
#   worker <queues> [concurrency] Celery worker for a comma-separated list of queues
#   beat                         Celery beat with the database scheduler (run exactly one)
#   stream                       the real-time inbox (uvicorn, Server-Sent Events) on STREAM_PORT
#   migrate                      migrate_schemas: the public schema, then every tenant schema
#   manage <args...>             python manage.py <args...>
#   anything else                executed as is (e.g. `bash`)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() {
    printf 'entrypoint: %s\n' "$*" >&2
}

# Waits until PostgreSQL at DATABASE_URL accepts a connection, for at most
# DATABASE_WAIT_TIMEOUT seconds (default 60).
wait_for_database() {
    python - <<'PY'
import os
import sys
import time

import psycopg

url = os.environ.get("DATABASE_URL")
if not url:
    sys.exit("entrypoint: DATABASE_URL is not set")
timeout = float(os.environ.get("DATABASE_WAIT_TIMEOUT", "60"))
deadline = time.monotonic() + timeout
while True:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if time.monotonic() >= deadline:
            sys.exit(f"entrypoint: database not reachable after {timeout:.0f}s: {reason}")
        print(f"entrypoint: waiting for the database ({reason})", file=sys.stderr, flush=True)
        time.sleep(2)
    else:
        break
PY
}

# prometheus-client refuses to count when PROMETHEUS_MULTIPROC_DIR names a missing folder.
if [[ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]]; then
    mkdir -p "${PROMETHEUS_MULTIPROC_DIR}"
fi

celery_loglevel="${LOG_LEVEL:-INFO}"
role="${1:-web}"
if [[ $# -gt 0 ]]; then
    shift
fi

case "${role}" in
    web)
        # gunicorn's workers share their Prometheus samples through this folder; samples of a
        # previous run would be summed with the new ones, so it starts empty.
        export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}"
        mkdir -p "${PROMETHEUS_MULTIPROC_DIR}"
        find "${PROMETHEUS_MULTIPROC_DIR}" -mindepth 1 -delete
        wait_for_database
        exec gunicorn platform_core.wsgi -c docker/gunicorn.conf.py "$@"
        ;;
    worker)
        if [[ $# -lt 1 || -z "$1" ]]; then
            log "usage: worker <queues> [concurrency]  (queues: critical,high,normal,low,system)"
            exit 64
        fi
        queues="$1"
        shift
        args=(-A platform_core worker
            -Q "${queues}"
            -n "${queues//,/-}@%h"
            --without-gossip --without-mingle
            --loglevel "${celery_loglevel}")
        if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
            args+=(-c "$1")
            shift
        fi
        exec celery "${args[@]}" "$@"
        ;;
    stream)
        wait_for_database
        exec python -m notifications.stream --host 0.0.0.0 --port "${STREAM_PORT:-8001}" "$@"
        ;;
    beat)
        exec celery -A platform_core beat \
            -S django_celery_beat.schedulers:DatabaseScheduler \
            --loglevel "${celery_loglevel}" "$@"
        ;;
    migrate)
        wait_for_database
        exec python manage.py migrate_schemas --noinput "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "${role}" "$@"
        ;;
esac
