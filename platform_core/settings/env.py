"""The one `environ.Env` of the settings, and the URLs of the services Clarion talks to."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import environ

from platform_core import embedded

BASE_DIR = embedded.BASE_DIR

env = environ.Env()
# A local `.env` file is read when present; real environment variables win over it.
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

USING_EMBEDDED_DATABASE = not os.environ.get("DATABASE_URL")
USING_EMBEDDED_REDIS = not os.environ.get("REDIS_URL")

DATABASE_URL = env.str("DATABASE_URL", default="") or embedded.database_url()
REDIS_URL = env.str("REDIS_URL", default="") or embedded.redis_url()


def celery_broker_url(redis_url: str) -> str:
    """Kombu spells a Unix-socket Redis `redis+socket://path?virtual_host=db`."""
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    db = parse_qs(parts.query).get("db", ["0"])[-1]
    return f"redis+socket://{parts.path}?virtual_host={db}"
