"""The error envelope: every API error is `{"error": {"code", "message", "fields"?}}`."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """A domain error with a stable code, raised by services and mapped by the handler."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}


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
        from platform_core.middleware import payload_too_large

        return payload_too_large()

    if isinstance(exc, ApiError):
        set_rollback()
        return error_response(exc.status_code, exc.error_code, exc.message, exc.fields, exc.headers)

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


def _report(exc: BaseException) -> None:
    try:
        import sentry_sdk
    except ImportError:  # pragma: no cover - sentry-sdk is a dependency
        return
    sentry_sdk.capture_exception(exc)


# Django-level handlers, for errors outside DRF views (unknown routes, admin, middleware).
def bad_request(request, exception=None):
    return error_response(400, "bad_request", "The request is malformed.")


def permission_denied(request, exception=None):
    return error_response(403, "permission_denied", "You may not do that.")


def not_found(request, exception=None):
    return error_response(404, "not_found", f"No resource at {request.path}.")


def server_error(request):
    return error_response(500, "internal_error", "An internal error occurred; it has been logged.")
