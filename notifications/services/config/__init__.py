"""Writes of the configuration rows: templates, workflows and their versions, routes, event
schemas, integrations, throttles.

Every write runs in one transaction and validates what the API contract promises, raising
an `ApplicationError` (`validation_error` with `fields`, a conflict, or not found) so that
bad input changes nothing. Writes that must not interleave (a template deleted while a
workflow starts using it, two integrations made primary at once) are serialised with
transaction-scoped PostgreSQL advisory locks, keyed by tenant schema.

NOTE: the names below are re-exported so that `from notifications.services.config import X`
keeps working; the code itself looks names up in the sub-module that defines them.
"""

from notifications.services.config.common import (
    DEFAULT_MAX_ATTEMPTS,
    DELAY_MAX_SECONDS,
    DIGEST_MAX_SECONDS,
    EVENT_RE,
    KEY_MAX_LENGTH,
    KEY_RE,
    LOCALE_RE,
    MAX_ATTEMPTS_RANGE,
    MAX_STEPS,
    MAX_VARIANTS,
    Fields,
    event_validator,
    key_validator,
    locale_validator,
)
from notifications.services.config.integrations import (
    integration_create,
    integration_delete,
    integration_settings_errors,
    integration_update,
)
from notifications.services.config.routes import route_create, route_delete, route_update
from notifications.services.config.schemas import (
    SCHEMA_MAX_BYTES,
    event_schema_delete,
    event_schema_errors,
    event_schema_put,
)
from notifications.services.config.templates import (
    template_create,
    template_delete,
    template_upsert,
)
from notifications.services.config.throttles import (
    throttle_create,
    throttle_delete,
    throttle_replace,
)
from notifications.services.config.versions import (
    workflow_promote,
    workflow_rollback,
    workflow_rollout,
    workflow_version_create,
)
from notifications.services.config.workflows import (
    workflow_create,
    workflow_delete,
    workflow_replace,
    workflow_step_representation,
    workflow_steps_errors,
)

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DELAY_MAX_SECONDS",
    "DIGEST_MAX_SECONDS",
    "EVENT_RE",
    "KEY_MAX_LENGTH",
    "KEY_RE",
    "LOCALE_RE",
    "MAX_ATTEMPTS_RANGE",
    "MAX_STEPS",
    "MAX_VARIANTS",
    "SCHEMA_MAX_BYTES",
    "Fields",
    "event_schema_delete",
    "event_schema_errors",
    "event_schema_put",
    "event_validator",
    "integration_create",
    "integration_delete",
    "integration_settings_errors",
    "integration_update",
    "key_validator",
    "locale_validator",
    "route_create",
    "route_delete",
    "route_update",
    "template_create",
    "template_delete",
    "template_upsert",
    "throttle_create",
    "throttle_delete",
    "throttle_replace",
    "workflow_create",
    "workflow_delete",
    "workflow_promote",
    "workflow_rollback",
    "workflow_rollout",
    "workflow_replace",
    "workflow_step_representation",
    "workflow_steps_errors",
    "workflow_version_create",
]
