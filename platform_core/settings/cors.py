"""CORS for the in-app inbox (django-cors-headers), so a tenant's own front end can call it.

Only `/api/v1/inbox/...` answers cross-origin requests. An origin is allowed when it is in
`CLARION_INBOX_CORS_ORIGINS` (every tenant) or in the tenant's own `cors_allowed_origins`
(platform admin), checked per request by `tenants.cors`.
"""

from corsheaders.defaults import default_headers

from .env import env

CORS_URLS_REGEX = r"^/api/v1/inbox/"
CORS_ALLOWED_ORIGINS = env.list("CLARION_INBOX_CORS_ORIGINS", default=[])
# What the inbox and its widget send: the API key or the subscriber hash, JSON bodies, and
# the stream's resume header.
CORS_ALLOW_HEADERS = (*default_headers, "x-subscriber-hash", "last-event-id")
CORS_ALLOW_METHODS = ("GET", "POST", "OPTIONS")
CORS_EXPOSE_HEADERS = ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
# Authentication is by header, never by cookie.
CORS_ALLOW_CREDENTIALS = False
# How long a browser may cache a preflight: a removed origin stops working within this.
CORS_PREFLIGHT_MAX_AGE = env.int("CLARION_INBOX_CORS_MAX_AGE_SECONDS", default=600)
