"""What every authenticated gRPC call goes through, as a request goes through the middleware.

`api_key_rpc(category=...)` wraps a servicer method: the database connections are checked
before and after the call (as Django does around each request: one that broke or outlived
CONN_MAX_AGE is closed, so a broken connection never reaches the next call on this thread),
the tenant comes from the metadata `authorization: ApiKey <secret>` (the same lookup as
REST's), the connection is set to the tenant's schema for the call and back to public after
it, the call is counted against the key's rate limit, and any error is answered with the
status of its kind (`platform_core.api.errors.grpc_error_status`).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field

import grpc
from django.db import close_old_connections, connection
from google.protobuf.message import DecodeError

from platform_core.api.errors import grpc_error_status
from platform_core.errors import ApplicationError, ErrorKind
from platform_core.observability import request_id_from_header, request_id_var, tenant_var
from tenants.models import ApiKey, Tenant
from tenants.ratelimits import key_for_api_key, rate_limit_spend
from tenants.services import api_key_authenticate, api_key_from_header

logger = logging.getLogger(__name__)


@dataclass
class Call:
    """One authenticated call: its tenant and key, metadata, and metadata to answer with."""

    tenant: Tenant
    api_key: ApiKey
    request_id: str
    metadata: dict[str, str]
    response_metadata: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Undecodable:
    """A request that is not a valid message of its type (e.g. nested past protobuf's limit)."""

    reason: str


def lenient_deserializer(message_class):
    """`message_class.FromString`, but a bad message becomes `Undecodable` instead of the
    runtime's bare INTERNAL: the call then answers INVALID_ARGUMENT `malformed_message`."""

    def parse(data: bytes):
        try:
            return message_class.FromString(data)
        except DecodeError as exc:
            return Undecodable(str(exc))

    return parse


def _metadata(context: grpc.ServicerContext) -> dict[str, str]:
    # Keys are lower case on the wire; binary (-bin) values are not ours to read.
    return {
        key.lower(): value
        for key, value in (context.invocation_metadata() or ())
        if isinstance(value, str)
    }


def _authenticate(metadata: dict[str, str]) -> ApiKey:
    raw = api_key_from_header(metadata.get("authorization"))
    if raw is None:
        raise ApplicationError(
            "not_authenticated",
            "Authentication required: send the metadata `authorization: ApiKey <secret>`.",
            kind=ErrorKind.UNAUTHENTICATED,
        )
    key = api_key_authenticate(raw=raw)
    if key is None:
        raise ApplicationError(
            "authentication_failed", "The API key is invalid.", kind=ErrorKind.UNAUTHENTICATED
        )
    return key


def _rate_limit(call: Call, category: str) -> None:
    tenant = call.tenant
    key = key_for_api_key(schema=tenant.schema_name, prefix=call.api_key.prefix, category=category)
    usage = rate_limit_spend(key=key, category=category, overrides=tenant.api_rate_limits)
    if usage is None:  # unlimited, or Redis unavailable: fail open (logged)
        return
    call.response_metadata += [(name.lower(), value) for name, value in usage.headers().items()]
    if not usage.allowed:
        raise usage.error()


def api_key_rpc(*, category: str):
    """Make `method(self, request, call: Call)` a unary servicer method authenticated by key.

    `category` is the rate-limit budget the call spends (`events` for triggers).
    """

    def decorate(method):
        @functools.wraps(method)
        def handler(self, request, context: grpc.ServicerContext):
            started = time.perf_counter()
            outcome = grpc.StatusCode.OK
            metadata = _metadata(context)
            request_id = request_id_from_header(metadata.get("x-request-id"))
            request_id_var.set(request_id)
            tenant_var.set(None)
            response_metadata = [("x-request-id", request_id)]
            try:
                close_old_connections()
                connection.set_schema_to_public()  # keys and tenants live in public
                key = _authenticate(metadata)
                call = Call(
                    tenant=key.tenant,
                    api_key=key,
                    request_id=request_id,
                    metadata=metadata,
                    response_metadata=response_metadata,
                )
                connection.set_tenant(key.tenant)
                tenant_var.set(key.tenant.slug)
                _rate_limit(call, category)
                if isinstance(request, Undecodable):
                    raise ApplicationError(
                        "malformed_message",
                        f"The request is not a valid message: {request.reason}",
                        kind=ErrorKind.VALIDATION,
                    )
                response = method(self, request, call)
            except Exception as exc:  # noqa: BLE001 - every error is answered with a status
                status = grpc_error_status(exc)
                outcome = status.code
                context.send_initial_metadata(response_metadata)
                context.abort_with_status(status)
            else:
                context.send_initial_metadata(response_metadata)
                return response
            finally:
                logger.info(
                    "grpc call",
                    extra={
                        "method": method.__name__,
                        "code": outcome.name,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
                connection.set_schema_to_public()
                close_old_connections()
                request_id_var.set(None)
                tenant_var.set(None)

        return handler

    return decorate
