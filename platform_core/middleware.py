"""Request-wide middleware: correlation id, metrics, URL characters, request bodies; and the
browser-only middleware the key-authenticated API skips."""

from __future__ import annotations

import io
import re
import time

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Message
from django.contrib.sessions.middleware import SessionMiddleware as _Session
from django.core.handlers.wsgi import LimitedStream
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpResponse
from django.middleware.csrf import CsrfViewMiddleware as _CsrfView
from whitenoise.middleware import WhiteNoiseMiddleware as _WhiteNoise

from platform_core.api.errors import (
    admin_error_page,
    error_response,
    is_admin_request,
    payload_too_large,
)
from platform_core.observability import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    request_id_from_header,
    request_id_var,
    tenant_var,
)

# Every path of the API (authenticated by key, never by session or cookie).
API_PREFIX = "/api/v1/"


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


# C0 controls (NUL included), DEL and C1 controls: no id, filter or search holds them, and
# PostgreSQL refuses NUL in text outright.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class UrlCharactersMiddleware:
    """Refuses control characters in the URL path or query (decoded) with 400
    `invalid_characters`, before anything reads the database.

    The API (and every non-admin path) answers in the error envelope, naming `path` or the
    query parameter; the admin answers with its HTML error page.
    """

    code = "invalid_characters"
    message = "The URL holds control characters (such as NUL), which no parameter accepts."

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        fields: dict[str, list[str]] = {}
        if _CONTROL_CHARACTERS.search(request.path):
            fields["path"] = ["Control characters are not allowed."]
        for name, values in request.GET.lists():
            if _CONTROL_CHARACTERS.search(name) or any(
                _CONTROL_CHARACTERS.search(value) for value in values
            ):
                # The name is reported with its control characters replaced, as it is shown.
                fields[_CONTROL_CHARACTERS.sub("\ufffd", name)] = [
                    "Control characters are not allowed."
                ]
        if not fields:
            return self.get_response(request)
        if is_admin_request(request):
            return admin_error_page(request, 400, self.message)
        return error_response(400, self.code, self.message, fields)


def _is_terminated_stream(meta) -> bool:
    """A body sent with `Transfer-Encoding: chunked` and no Content-Length, which the WSGI
    server has de-chunked and ends itself (`wsgi.input_terminated`, as gunicorn does)."""
    return (
        bool(meta.get("wsgi.input_terminated"))
        and not meta.get("CONTENT_LENGTH")
        and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


class BodySizeLimitMiddleware:
    """Refuses bodies over API_MAX_BODY_BYTES with 413 before reading them, and reads chunked
    bodies (no Content-Length), which Django would otherwise see as empty, up to that bound.

    Only API paths are bounded by Content-Length here (Django bounds the others with
    DATA_UPLOAD_MAX_MEMORY_SIZE); a chunked body is bounded on every path.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.API_MAX_BODY_BYTES
        if _is_terminated_stream(request.META):
            # One byte more than the limit tells "at the limit" from "over it".
            body = request.META["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return self._too_large(request)
            request._stream = LimitedStream(io.BytesIO(body), len(body))
            request.META["CONTENT_LENGTH"] = str(len(body))
        elif request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                return payload_too_large()
        return self.get_response(request)

    @staticmethod
    def _too_large(request) -> HttpResponse:
        if is_admin_request(request):
            return admin_error_page(request, 413)
        return payload_too_large()


def browser_only(middleware: type) -> type:
    """`middleware`, doing nothing for requests to the API: sessions, CSRF tokens, the
    session's user, messages and static files are for browsers on the admin and pages, and
    an API request (its own key, no cookie) would only pay for them. Its `process_view` is
    skipped too."""

    class BrowserOnly(middleware):
        def __call__(self, request):
            if request.path_info.startswith(API_PREFIX):
                return self.get_response(request)
            return super().__call__(request)

    if hasattr(middleware, "process_view"):

        def process_view(self, request, *args, **kwargs):
            if request.path_info.startswith(API_PREFIX):
                return None
            return super(BrowserOnly, self).process_view(request, *args, **kwargs)

        BrowserOnly.process_view = process_view
    BrowserOnly.__name__ = BrowserOnly.__qualname__ = middleware.__name__
    BrowserOnly.__module__ = __name__
    BrowserOnly.__doc__ = f"{middleware.__module__}.{middleware.__name__}, for browsers only."
    return BrowserOnly


WhiteNoiseMiddleware = browser_only(_WhiteNoise)
SessionMiddleware = browser_only(_Session)
CsrfViewMiddleware = browser_only(_CsrfView)
AuthenticationMiddleware = browser_only(_Authentication)
MessageMiddleware = browser_only(_Message)
