"""django-tenants' backend, keeping a connection's search_path across requests of one tenant.

django-tenants forgets that the search_path is set whenever a tenant is set, and every
request sets two (public, to find the tenant, then the tenant), so with
`TENANT_LIMIT_SET_CALLS` every request still begins with a `SET search_path` round trip.
Here the path last applied to the session is remembered beside django-tenants' flag: setting
a tenant whose path is the one applied keeps it. It is forgotten wherever django-tenants
forgets its own (close, rollback, savepoint rollback) and on every new connection.
"""

from __future__ import annotations

from django.utils.asyncio import async_unsafe
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper


class DatabaseWrapper(TenantDatabaseWrapper):
    _applied_search_path: list[str] | None = None

    def set_tenant(self, tenant, include_public=True):
        applied = self.search_path_set_schemas or self._applied_search_path
        super().set_tenant(tenant, include_public)
        self._applied_search_path = applied
        if applied is not None and applied == self._get_cursor_search_paths():
            self.search_path_set_schemas = applied

    @async_unsafe
    def connect(self):
        self._applied_search_path = None
        self.search_path_set_schemas = None
        super().connect()

    def close(self):
        self._applied_search_path = None
        super().close()

    @async_unsafe
    def rollback(self):
        self._applied_search_path = None
        super().rollback()

    @async_unsafe
    def savepoint_rollback(self, sid):
        self._applied_search_path = None
        super().savepoint_rollback(sid)
