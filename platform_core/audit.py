"""Who makes a configuration change: the actor of the audit history (django-pghistory).

A change is recorded by database triggers with the `pghistory.context` active when it is
written; this module is the one place that names its actor: `api_key:<prefix>` (the API's
authentication), `admin:<email>` (`AuditContextMiddleware`), `cli:<command>` (management
commands).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pghistory
from django.contrib.auth.models import AbstractBaseUser

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Requests that never change configuration: an open audit context costs every statement
# pghistory's context prefix, and these are the hot path.
_NOT_CONFIGURATION = (
    "/api/v1/events/trigger",
    "/api/v1/events/bulk",
    "/api/v1/events/broadcast",
    "/api/v1/inbox/",
)


def audit_actor(actor: str) -> None:
    """Name the actor of the changes made in the current audit context (if one is open)."""
    pghistory.context(actor=actor)


@contextlib.contextmanager
def audit_context(actor: str | None = None) -> Iterator[None]:
    """Group the changes made inside into one audit context, made by `actor`."""
    with pghistory.context(**({"actor": actor} if actor else {})):
        yield


def admin_actor(user: AbstractBaseUser) -> str:
    return f"admin:{getattr(user, 'email', '') or user.get_username()}"


class AuditContextMiddleware:
    """Opens an audit context around each request that may change something; a signed-in
    admin user is its actor until the API's authentication names an API key instead."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in _SAFE_METHODS or request.path.startswith(_NOT_CONFIGURATION):
            return self.get_response(request)
        user = getattr(request, "user", None)
        actor = admin_actor(user) if user is not None and user.is_authenticated else None
        with audit_context(actor):
            return self.get_response(request)
