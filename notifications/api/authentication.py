"""Inbox authentication for the tenant's own front ends: an HMAC of the subscriber id."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from notifications.inbox_events import subscriber_hash, subscriber_hash_valid

__all__ = ["InboxSubscriber", "SubscriberHashAuthentication", "subscriber_hash"]


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
        if not subscriber_hash_valid(
            secret=tenant.inbox_secret, subscriber_id=subscriber_id, provided=provided
        ):
            raise exceptions.AuthenticationFailed("The subscriber hash is invalid.")
        return InboxSubscriber(subscriber_id=subscriber_id), None

    def authenticate_header(self, request):
        return "ApiKey"
