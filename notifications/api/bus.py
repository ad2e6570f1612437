"""Event-bus messages: a trigger body plus `"tenant": "<slug>"`, accepted like a REST trigger.

The consumers in `platform_core.bus` hand each message here. It is validated by the REST
trigger's own parser and serializer and accepted by the same service, in the tenant's
schema, so a bus message and a `POST /api/v1/events/trigger` behave alike: idempotent by
`transaction_id`, the same codes and fields when refused.

A message without a `transaction_id` is keyed by its transport id where that is stable
across redeliveries (a stream entry id, an AMQP `message_id`), so a redelivered message is
still accepted once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django_tenants.utils import schema_context
from rest_framework.exceptions import APIException

from notifications.api.serializers.events import TriggerSerializer
from notifications.models import Notification
from notifications.services.trigger import event_trigger
from platform_core.api.errors import exception_handler
from platform_core.api.parsers import parse_json_body
from platform_core.bus import Message, Rejected, RetryLater
from platform_core.errors import ApplicationError, ErrorKind, is_outage, validation_error
from platform_core.observability import request_id_var
from tenants.models import Tenant
from tenants.selectors import tenant_get_by_slug

logger = logging.getLogger(__name__)

TENANT_FIELD = "tenant"
# Tenants are looked up once per consumer for this long, not per message.
TENANT_CACHE_SECONDS = 30
_tenants: dict[str, tuple[float, Tenant]] = {}
_KEY_MAX = Notification._meta.get_field("transaction_id").max_length


def _tenant(slug: str) -> Tenant:
    """The active tenant `slug`; found ones are cached, a miss is looked up again next time
    (a tenant created a moment ago is not refused for the cache's sake)."""
    now = time.monotonic()
    cached = _tenants.get(slug)
    if cached is not None and cached[0] >= now:
        return cached[1]
    try:
        tenant = tenant_get_by_slug(slug=slug)
    except Tenant.DoesNotExist:
        tenant = None
    if tenant is None or not tenant.is_active:
        _tenants.pop(slug, None)
        raise ApplicationError(
            "unknown_tenant",
            f"No active tenant '{slug}'.",
            kind=ErrorKind.NOT_FOUND,
            fields={TENANT_FIELD: ["No active tenant with this slug."]},
        )
    _tenants[slug] = (now + TENANT_CACHE_SECONDS, tenant)
    return tenant


def _transport_key(message: Message) -> str | None:
    if not message.stable_id:
        return None
    key = f"bus:{message.source}:{message.stable_id}"
    if len(key) > _KEY_MAX:
        key = "bus:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _accept(message: Message) -> dict:
    if len(message.body) > settings.API_MAX_BODY_BYTES:
        raise ApplicationError(
            "payload_too_large",
            f"The message is larger than {settings.API_MAX_BODY_BYTES} bytes.",
            kind=ErrorKind.TOO_LARGE,
        )
    data = parse_json_body(message.body)
    if not isinstance(data, dict):
        raise ApplicationError(
            "invalid_message",
            'A message is a JSON object: a trigger body plus "tenant": "<slug>".',
            kind=ErrorKind.VALIDATION,
        )
    raw = dict(data)
    slug = raw.pop(TENANT_FIELD, None)
    if not isinstance(slug, str) or not slug.strip():
        raise validation_error({TENANT_FIELD: ["The tenant's slug is required."]})
    tenant = _tenant(slug.strip())
    with schema_context(tenant.schema_name):
        serializer = TriggerSerializer(data=raw)
        serializer.is_valid(raise_exception=True)
        outcome = event_trigger(
            data=serializer.validated_data,
            raw=raw,
            idempotency_key=None if raw.get("transaction_id") else _transport_key(message),
            request_id=request_id_var.get() or "",
        )
    return {**outcome.body, "replayed": outcome.replayed, "tenant": tenant.slug}


def _error(exc: Exception) -> dict:
    """The error envelope's inside, as the REST API would have answered."""
    return json.loads(exception_handler(exc, {}).content)["error"]


def bus_message_accept(message: Message) -> dict:
    """Accept one bus message (committed when this returns): the trigger's response body.

    Raises `Rejected` with the error for a message that can never be accepted (bad JSON, an
    unknown tenant, a validation error) and `RetryLater` when it may be later (the database
    is down, the same `transaction_id` is being accepted by another consumer).
    """
    token = request_id_var.set(f"bus:{message.source}:{message.stable_id or '-'}"[:128])
    # As Django does around each request: a connection past CONN_MAX_AGE or broken is replaced.
    close_old_connections()
    try:
        return _accept(message)
    except ApplicationError as exc:
        if exc.code == "idempotency_in_progress" or exc.kind in (
            ErrorKind.UNAVAILABLE,
            ErrorKind.RATE_LIMITED,
        ):
            raise RetryLater(exc.message, delay=exc.retry_after) from exc
        raise Rejected(_error(exc)) from exc
    except APIException as exc:
        raise Rejected(_error(exc)) from exc
    except Exception as exc:
        if is_outage(exc):
            # A broken connection is replaced on the next query.
            connection.close_if_unusable_or_obsolete()
            raise RetryLater(f"{type(exc).__name__}: {exc}"[:200]) from exc
        logger.exception("bus message failed unexpectedly; dead-lettered")
        raise Rejected(
            {
                "code": "internal_error",
                "message": f"An internal error occurred ({type(exc).__name__}); it has been "
                "logged.",
            }
        ) from exc
    finally:
        request_id_var.reset(token)
