"""The tenant's admin: operators and marketers run routing, content and providers here.

Registered on `tenant_admin_site` only (each tenant's own host). Templates, workflows and
integrations are written through the services the API uses (same validation, same advisory
locks), with their problems shown on the form fields; the delivery history is read-only,
apart from replaying dead letters. Changes are recorded by the admin's LogEntry history.

Admin autodiscovery imports this package; importing the modules registers their pages.
"""

from notifications.admin import (  # noqa: F401
    dashboard,
    deliveries,
    feedback,
    governance,
    integrations,
    people,
    routing,
    schemas,
    suppressions,
    templates,
)
