"""Audit history of configuration rows: which models are tracked, as which resource.

django-pghistory installs PostgreSQL triggers (through migrations, so in every tenant schema)
that copy each inserted, updated or deleted row of a tracked model into its event table
(`<Model>Event`, in the same schema), with the `pghistory.context` of the change — who made
it (`actor`) — stored on the event row. Triggers see every write: `save()`, `update()`,
`bulk_create()`, cascades and raw SQL alike.

Tracking a model is one decorator: `@audited("route", key="event")` for a resource, or
`@audited("workflow", parent="workflow", order="position")` for rows that belong to one
(a workflow's steps), shown inside their parent's before and after.

https://django-pghistory.readthedocs.io/en/stable/
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pghistory
from django.db import models

# The resources `GET /api/v1/audit-log?resource=` accepts; those no model is registered for
# (yet) have an empty history.
AUDIT_RESOURCE_NAMES = (
    "route",
    "workflow",
    "template",
    "integration",
    "throttle",
    "schema",
    "webhook_endpoint",
)

# Never copied into an event table: bookkeeping that changes on every save.
_ALWAYS_EXCLUDED = ("created_at", "updated_at")


@dataclass(frozen=True)
class AuditedChild:
    """Rows shown inside their parent resource (a workflow's steps, a template's variants)."""

    model: type[models.Model]
    parent_field: str
    collection: str
    order: str


@dataclass
class AuditedResource:
    """A tracked model, the field that names one of its rows, and its tracked children."""

    name: str
    model: type[models.Model] | None = None
    key_field: str = ""
    children: list[AuditedChild] = field(default_factory=list)

    def event_model(self) -> type[models.Model]:
        return self.model.pgh_event_model


AUDITED: dict[str, AuditedResource] = {name: AuditedResource(name) for name in AUDIT_RESOURCE_NAMES}


def audited(
    resource: str,
    *,
    key: str = "",
    parent: str = "",
    collection: str = "",
    order: str = "id",
    exclude: tuple[str, ...] = (),
) -> Callable[[type[models.Model]], type[models.Model]]:
    """Track a model's changes as `resource` (`key` names a row), or as rows inside it
    (`parent`: the foreign key to the resource's model). `exclude` fields are never
    recorded — credentials and secrets go there."""

    def wrap(model: type[models.Model]) -> type[models.Model]:
        tracked = pghistory.track(
            pghistory.InsertEvent("create"),
            pghistory.UpdateEvent("update"),
            pghistory.DeleteEvent("delete"),
            exclude=[*_ALWAYS_EXCLUDED, *exclude],
            # The actor is written on each event row; the id groups the rows of one change.
            context_field=pghistory.ContextJSONField(),
            context_id_field=pghistory.ContextUUIDField(),
            # Not `events`: a webhook endpoint has a field of that name.
            obj_field=pghistory.ObjForeignKey(related_name="audit_events"),
        )(model)
        entry = AUDITED.setdefault(resource, AuditedResource(resource))
        if parent:
            entry.children.append(
                AuditedChild(
                    model=tracked,
                    parent_field=parent,
                    collection=collection or f"{model._meta.model_name}s",
                    order=order,
                )
            )
        else:
            entry.model, entry.key_field = tracked, key
        return tracked

    return wrap
