"""The error envelope: every API error is `{"error": {"code", "message", "fields"?}}`.

The only place that knows HTTP status codes for errors: application errors map by kind,
DRF's and Django's by class, and an outage of PostgreSQL, Redis or the broker is a 503
`service_unavailable` with Retry-After, whether it happens in a view or in a middleware.

The gRPC API maps the same kinds to gRPC status codes (`GRPC_STATUS_BY_KIND`), with the
same code, message and fields in a google.rpc.Status (`grpc_error_status`).
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc import StatusCode
from grpc_status import rpc_status
from rest_framework import exceptions, status

from platform_core.errors import OUTAGE_RETRY_AFTER_SECONDS, ApplicationError, ErrorKind, is_outage

logger = logging.getLogger(__name__)

STATUS_BY_KIND = {
    ErrorKind.VALIDATION: status.HTTP_400_BAD_REQUEST,
    ErrorKind.UNAUTHENTICATED: status.HTTP_401_UNAUTHORIZED,
    ErrorKind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorKind.CONFLICT: status.HTTP_409_CONFLICT,
    ErrorKind.TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    ErrorKind.UNPROCESSABLE: status.HTTP_422_UNPROCESSABLE_ENTITY,
    ErrorKind.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    ErrorKind.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
}

# The same kinds over gRPC (https://grpc.io/docs/guides/status-codes/): a reused idempotency
# key with another body and an unknown event are FAILED_PRECONDITION (the state of the
# tenant's configuration, not the request's shape); a key still in flight is ABORTED.
GRPC_STATUS_BY_KIND = {
    ErrorKind.VALIDATION: StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: StatusCode.NOT_FOUND,
    ErrorKind.CONFLICT: StatusCode.ABORTED,
    ErrorKind.TOO_LARGE: StatusCode.INVALID_ARGUMENT,
    ErrorKind.UNPROCESSABLE: StatusCode.FAILED_PRECONDITION,
    ErrorKind.RATE_LIMITED: StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.UNAVAILABLE: StatusCode.UNAVAILABLE,
    ErrorKind.UNAUTHENTICATED: StatusCode.UNAUTHENTICATED,
}
# google.rpc.ErrorInfo.domain of every Clarion error; its `reason` is the stable code.
GRPC_ERROR_DOMAIN = "clarion"


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def error_response(
    status_code: int,
    code: str,
    message: str,
    fields: dict | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    response = JsonResponse(error_body(code, message, fields), status=status_code)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


_CODES = {
    exceptions.ParseError: ("malformed_json", "The request body is not valid JSON."),
    exceptions.NotAuthenticated: (
        "not_authenticated",
        "Authentication required: send `Authorization: ApiKey <secret>`.",
    ),
    exceptions.AuthenticationFailed: ("authentication_failed", "The API key is invalid."),
    exceptions.PermissionDenied: ("permission_denied", "This key may not do that."),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "Method not allowed."),
    exceptions.NotAcceptable: ("not_acceptable", "Only application/json responses are served."),
    exceptions.UnsupportedMediaType: (
        "unsupported_media_type",
        "Send the body as application/json.",
    ),
    exceptions.Throttled: ("rate_limited", "Too many requests."),
}


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested ValidationError detail → {"field.sub": ["message", ...]}."""
    fields: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
            for index, sub in enumerate(value):
                if sub:
                    walk(f"{prefix}.{index}" if prefix else str(index), sub)
        else:
            messages = value if isinstance(value, list) else [value]
            fields.setdefault(prefix or "non_field_errors", []).extend(str(m) for m in messages)

    walk("", detail)
    return fields


def exception_handler(exc, context):
    """DRF exception handler producing the envelope for every error, 500 included."""
    from rest_framework.views import set_rollback  # noqa: PLC0415 - DRF settings import cycle

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return payload_too_large()

    if isinstance(exc, ApplicationError):
        set_rollback()
        return application_error_response(exc)

    if is_outage(exc):
        set_rollback()
        return outage_response(exc, context.get("request"))

    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        fields = _flatten(exc.detail)
        return error_response(400, "validation_error", "The request is not valid.", fields)

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        code, default_message = _CODES.get(type(exc), (None, None))
        if code is None:
            for klass, (klass_code, klass_message) in _CODES.items():
                if isinstance(exc, klass):
                    code, default_message = klass_code, klass_message
                    break
        code = code or str(exc.default_code)
        message = default_message if isinstance(exc, exceptions.ParseError) else str(exc.detail)
        headers = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait) + 1)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        return error_response(exc.status_code, code, message or default_message, None, headers)

    set_rollback()
    logger.exception("unhandled error in API view", exc_info=exc)
    _report(exc)
    return error_response(500, "internal_error", "An internal error occurred; it has been logged.")


def application_error_response(exc: ApplicationError) -> JsonResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error_response(STATUS_BY_KIND[exc.kind], exc.code, exc.message, exc.fields, headers)


def outage_response(exc: BaseException, request=None) -> HttpResponse:
    """503 `service_unavailable`: a dependency is down; logged, without the request's data.

    An admin page gets the admin's HTML error page instead of the envelope."""
    logger.warning(
        "dependency unavailable",
        extra={
            "error_class": type(exc).__name__,
            "path": getattr(request, "path", None),
            "method": getattr(request, "method", None),
        },
    )
    headers = {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)}
    if request is not None and is_admin_request(request):
        return admin_error_page(request, 503, headers=headers)
    return error_response(
        503,
        "service_unavailable",
        "A service Clarion depends on is unavailable; retry later.",
        headers=headers,
    )


def application_error(exc: BaseException) -> ApplicationError | None:
    """`exc` as an application error with its stable code, or None for an unexpected one.

    DRF's validation and parse errors become `validation_error` / `malformed_json` with the
    fields the REST envelope names; an outage becomes `service_unavailable`.
    """
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, exceptions.ValidationError):
        return ApplicationError(
            "validation_error",
            "The request is not valid.",
            kind=ErrorKind.VALIDATION,
            fields=_flatten(exc.detail),
        )
    if isinstance(exc, exceptions.ParseError):
        return ApplicationError("malformed_json", str(exc.detail), kind=ErrorKind.VALIDATION)
    if is_outage(exc):
        return ApplicationError(
            "service_unavailable",
            "A service Clarion depends on is unavailable; retry later.",
            kind=ErrorKind.UNAVAILABLE,
            retry_after=OUTAGE_RETRY_AFTER_SECONDS,
        )
    return None


def grpc_error_status(exc: BaseException):
    """The grpc.Status of a failed call: the kind's status code, with google.rpc details.

    ErrorInfo carries the stable code (`reason`), BadRequest each field's messages, RetryInfo
    when the same call may succeed later. An unexpected error is logged and reported, and
    answers INTERNAL `internal_error` without its text.
    """
    error = application_error(exc)
    if error is None:
        logger.exception("unhandled error in gRPC call", exc_info=exc)
        _report(exc)
        code, reason = StatusCode.INTERNAL, "internal_error"
        message, fields, retry_after = "An internal error occurred; it has been logged.", None, None
    else:
        if error.kind is ErrorKind.UNAVAILABLE:
            logger.warning("dependency unavailable", extra={"error_class": type(exc).__name__})
        code, reason = GRPC_STATUS_BY_KIND[error.kind], error.code
        message, fields, retry_after = error.message, error.fields, error.retry_after
    details = [error_details_pb2.ErrorInfo(reason=reason, domain=GRPC_ERROR_DOMAIN)]
    if fields:
        violations = [
            error_details_pb2.BadRequest.FieldViolation(field=field, description=text)
            for field, texts in fields.items()
            for text in texts
        ]
        details.append(error_details_pb2.BadRequest(field_violations=violations))
    if retry_after is not None:
        delay = duration_pb2.Duration(seconds=int(retry_after))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    proto = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        proto.details.add().Pack(detail)
    return rpc_status.to_status(proto)


def _report(exc: BaseException) -> None:
    try:
        import sentry_sdk
    except ImportError:  # pragma: no cover - sentry-sdk is a dependency
        return
    sentry_sdk.capture_exception(exc)


def payload_too_large() -> JsonResponse:
    """413 for a body over API_MAX_BODY_BYTES (raised by Django or found by the middleware)."""
    return error_response(
        413,
        "payload_too_large",
        f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes.",
    )


# Pages a person reads: the admin answers errors with an HTML page, everything else (the API,
# tracking links, probes) with the JSON envelope.
ADMIN_PREFIX = "/admin/"

ADMIN_PAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Forbidden", "You may not see this page. Log in as a user who may, or ask an admin."),
    404: ("Page not found", "There is nothing at this address."),
    413: ("Request too large", "The request body is larger than this server accepts."),
    500: (
        "Server error",
        "Something went wrong on our side; it has been logged. Try again in a moment.",
    ),
    503: (
        "Service unavailable",
        "A service Clarion depends on is unavailable; try again in a moment.",
    ),
}


def is_admin_request(request) -> bool:
    return getattr(request, "path", "").startswith(ADMIN_PREFIX)


def admin_error_page(
    request, status_code: int, message: str | None = None, headers: dict[str, str] | None = None
) -> HttpResponse:
    """The admin's HTML error page; standalone, so it renders with the database down."""
    title, default_message = ADMIN_PAGES[status_code]
    try:
        body = render_to_string(
            "clarion/error.html",
            {"status": status_code, "title": title, "message": message or default_message},
        )
    except Exception:  # noqa: BLE001 - the error page must not fail in turn
        body = f"<!DOCTYPE html><title>{status_code} {title}</title><h1>{status_code} {title}</h1>"
    response = HttpResponse(body, status=status_code, content_type="text/html; charset=utf-8")
    for key, value in (headers or {}).items():
        response[key] = value
    return response


# Django-level handlers, for errors outside DRF views (unknown routes, admin, middleware).
def bad_request(request, exception=None):
    if is_admin_request(request):
        return admin_error_page(request, 400)
    return error_response(400, "bad_request", "The request is malformed.")


def permission_denied(request, exception=None):
    if is_admin_request(request):
        return admin_error_page(request, 403)
    return error_response(403, "permission_denied", "You may not do that.")


def not_found(request, exception=None):
    if is_admin_request(request):
        return admin_error_page(request, 404)
    return error_response(404, "not_found", f"No resource at {request.path}.")


def server_error(request):
    # Django calls this handler from inside its `except` block: the exception is current.
    exc = sys.exc_info()[1]
    if is_outage(exc):
        return outage_response(exc, request)
    if is_admin_request(request):
        return admin_error_page(request, 500)
    return error_response(500, "internal_error", "An internal error occurred; it has been logged.")
