"""A request's tenant from its Host header: one raw psycopg query, cached per host with a TTL.

The stream process never loads Django's ORM; the tables it reads are django-tenants' own
(`tenants_domain`, `tenants_tenant`). A domain removed or a tenant deactivated stops being
served within INBOX_STREAM_TENANT_CACHE_SECONDS.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import psycopg

_QUERY = (
    "SELECT t.schema_name, t.inbox_secret, t.cors_allowed_origins "
    "FROM tenants_domain d JOIN tenants_tenant t ON t.id = d.tenant_id "
    "WHERE lower(d.domain) = %s AND t.is_active AND t.schema_name <> 'public'"
)


@dataclass(frozen=True)
class StreamTenant:
    schema: str
    inbox_secret: str
    cors_origins: frozenset[str]


def host_name(host: str) -> str:
    """`Demo.LocalHost:8001` → `demo.localhost` (IPv6 literals keep their brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


class TenantDirectory:
    """Host → tenant, cached in the process for `ttl` seconds (misses too)."""

    def __init__(self, *, database_url: str, ttl: float):
        self.database_url = database_url
        self.ttl = ttl
        self._cache: dict[str, tuple[float, StreamTenant | None]] = {}
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def lookup(self, host: str) -> StreamTenant | None:
        """The tenant served at `host`, or None; psycopg.Error when the database is down."""
        name = host_name(host)
        cached = self._cache.get(name)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        async with self._lock:
            cached = self._cache.get(name)
            if cached and cached[0] > time.monotonic():
                return cached[1]  # filled while this request waited
            try:
                row = await self._fetch(name)
            except psycopg.OperationalError:
                # A dropped connection: one more try on a fresh one.
                await self.close()
                row = await self._fetch(name)
        tenant = None
        if row:
            schema, secret, origins = row
            tenant = StreamTenant(
                schema=schema,
                inbox_secret=secret,
                cors_origins=frozenset(o.strip().rstrip("/").lower() for o in origins or []),
            )
        self._cache[name] = (time.monotonic() + self.ttl, tenant)
        return tenant

    async def _fetch(self, name: str):
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.database_url, autocommit=True, connect_timeout=5
            )
        async with self._conn.cursor() as cursor:
            await cursor.execute(_QUERY, [name])
            return await cursor.fetchone()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
