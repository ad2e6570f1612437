"""Inbox authentication for the tenant's own front ends: an HMAC of the subscriber id."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from rest_framework import authentication, exceptions


def subscriber_hash(*, secret: str, subscriber_id: str) -> str:
    """hex(HMAC-SHA256(tenant inbox secret, subscriber_id)) — what a front end sends."""
    return hmac.new(secret.encode(), subscriber_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class InboxSubscriber:
    """A front end acting for exactly one subscriber."""

    subscriber_id: str
    is_authenticated = True
    is_anonymous = False


class SubscriberHashAuthentication(authentication.BaseAuthentication):
    header = "X-Subscriber-Hash"

    def authenticate(self, request):
        provided = request.headers.get(self.header)
        if not provided:
            return None
        tenant = getattr(request._request, "tenant", None)
        subscriber_id = (request.parser_context or {}).get("kwargs", {}).get("subscriber_id")
        if tenant is None or tenant.is_public or not subscriber_id:
            raise exceptions.AuthenticationFailed("The subscriber hash is invalid.")
        expected = subscriber_hash(secret=tenant.inbox_secret, subscriber_id=subscriber_id)
        if not hmac.compare_digest(expected, provided.strip().lower()):
            raise exceptions.AuthenticationFailed("The subscriber hash is invalid.")
        return InboxSubscriber(subscriber_id=subscriber_id), None

    def authenticate_header(self, request):
        return "ApiKey"
