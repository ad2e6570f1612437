"""The API's rate limits as a DRF throttle: every authenticated API request is counted.

The category is the view's `rate_limit_category` (`events` for the trigger endpoints, `inbox`
for the inbox), else `read` for GET/HEAD/OPTIONS and `config` for writes. Requests with an
API key count against the key; inbox requests authenticated by `X-Subscriber-Hash` against
the tenant + subscriber. Every counted response carries `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset`; over the limit → 429 `rate_limited` with
`Retry-After`.
"""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from tenants.models import ApiKey
from tenants.ratelimits import key_for_api_key, key_for_subscriber, rate_limit_spend

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def rate_limit_category(request, view) -> str:
    """Which budget a request spends: the view's own category, else read or config."""
    category = getattr(view, "rate_limit_category", None)
    if category:
        return category
    return "read" if request.method in SAFE_METHODS else "config"


class ApiRateLimitThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None:
            return True
        category = rate_limit_category(request, view)
        if isinstance(request.auth, ApiKey):
            key = key_for_api_key(
                schema=tenant.schema_name, prefix=request.auth.prefix, category=category
            )
        elif subscriber_id := getattr(request.user, "subscriber_id", None):
            key = key_for_subscriber(
                schema=tenant.schema_name, subscriber_id=subscriber_id, category=category
            )
        else:  # not authenticated as anyone (provider webhooks, the schema): not counted
            return True
        usage = rate_limit_spend(key=key, category=category, overrides=tenant.api_rate_limits)
        if usage is None:  # unlimited, or Redis unavailable: fail open (logged)
            return True
        # DRF copies the view's headers onto its response, the error response included.
        view.headers.update(usage.headers())
        if not usage.allowed:
            raise usage.error()
        return True
