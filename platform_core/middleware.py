"""Request-wide middleware: correlation id, metrics, body size limit."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver

from platform_core.api.errors import payload_too_large
from platform_core.observability import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    request_id_from_header,
    request_id_var,
    tenant_var,
)


class RequestIdMiddleware:
    """Takes `X-Request-ID` (or makes one), exposes it to logs and tasks, echoes it back."""

    header = "X-Request-ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from_header(request.headers.get(self.header))
        request.request_id = request_id
        # Cleared on `request_finished`, not here: Django logs the response (4xx/5xx lines)
        # after the middleware chain returns, and those lines must carry the id too.
        request_id_var.set(request_id)
        tenant_var.set(None)
        response = self.get_response(request)
        response[self.header] = request_id
        return response


@receiver(request_finished, dispatch_uid="clarion_clear_request_context")
def clear_request_context(**_):
    request_id_var.set(None)
    tenant_var.set(None)


class OpsEndpointsMiddleware:
    """Serves /healthz, /readyz and /metrics before tenant resolution and host checks.

    Probes arrive with whatever Host the orchestrator uses and must answer even when the
    database is down, so they skip the tenant lookup and ALLOWED_HOSTS.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        from platform_core import health

        self.views = {
            "/healthz": health.healthz,
            "/readyz": health.readyz,
            "/metrics": health.metrics,
        }

    def __call__(self, request):
        view = self.views.get(request.path)
        if view is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        request.metrics_route = request.path.lstrip("/")
        return view(request)


class MetricsMiddleware:
    """Counts requests and observes latency per route pattern (bounded label values)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = getattr(request, "metrics_route", None) or (
            match.route if match is not None and match.route else "unmatched"
        )
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response


class BodySizeLimitMiddleware:
    """Refuses API bodies over API_MAX_BODY_BYTES with 413 before reading them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.API_MAX_BODY_BYTES:
                return payload_too_large()
        return self.get_response(request)
