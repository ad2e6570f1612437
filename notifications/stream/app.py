"""`GET /api/v1/inbox/{subscriber_id}/stream`: a subscriber's inbox as Server-Sent Events.

Plain ASGI (https://asgi.readthedocs.io/en/latest/specs/www.html) under uvicorn. Each open
stream is a coroutine waiting on a queue fed by the process's one pub/sub connection (`hub`),
so thousands of them cost memory, not threads. The protocol is the HTML Living Standard's
(https://html.spec.whatwg.org/multipage/server-sent-events.html):

- `event: message` with the new message as the inbox API shows it, `event: count` with
  `{unread, unseen}`; every event has an `id:` (its Redis Stream id).
- A client that reconnects with `Last-Event-ID` first gets every event after that id that the
  subscriber's stream still holds (INBOX_STREAM_MAXLEN; writers keep history only for
  subscribers with a stream open in the last INBOX_STREAM_TTL_SECONDS, whose presence key each
  stream refreshes with its heartbeat). A new
  stream starts with a bare `id:` line (no event) naming the newest id, so that even a client
  that has not received an event yet resumes without a gap.
- A comment line every INBOX_STREAM_HEARTBEAT_SECONDS keeps proxies from closing it.

Authenticated like the inbox: `X-Subscriber-Hash` or `?hash=` (EventSource cannot set
headers), hex(HMAC-SHA256(tenant inbox secret, subscriber_id)). Errors are the API's JSON
envelope. Cross-origin pages are allowed as on the inbox API: CLARION_INBOX_CORS_ORIGINS or the
tenant's own inbox CORS origins.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from urllib.parse import parse_qs, unquote

import psycopg
import redis.asyncio as redis

from notifications.inbox_events import presence_key, stream_key, subscriber_hash_valid
from notifications.stream.hosts import StreamTenant, TenantDirectory
from notifications.stream.hub import RESYNC, Hub

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")

logger = logging.getLogger("notifications.stream")

_PATH = re.compile(r"^/api/v1/inbox/(?P<subscriber_id>.+)/stream/?$")
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_RETRY_MS = 3000
_ALLOW_HEADERS = "authorization, content-type, x-subscriber-hash, last-event-id"


def _stream_id_key(stream_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = stream_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def _sse(stream_id: str, event: str, data: str) -> bytes:
    return f"id: {stream_id}\nevent: {event}\ndata: {data}\n\n".encode()


class StreamApp:
    """The ASGI application; its Redis, database and hub are made at lifespan start-up."""

    def __init__(self) -> None:
        from django.conf import settings

        self.settings = settings
        self.open = 0
        self.redis: redis.Redis | None = None
        self.hub: Hub | None = None
        self.tenants: TenantDirectory | None = None

    # --- lifespan ------------------------------------------------------------------------

    async def startup(self) -> None:
        settings = self.settings
        # Streams take turns for the few round trips they make (a start, a resync), and the hub
        # holds one connection for pub/sub: a small pool serves thousands of streams.
        pool = redis.BlockingConnectionPool.from_url(
            settings.INBOX_STREAM_REDIS_URL,
            max_connections=32,
            timeout=10,
            socket_connect_timeout=5,
        )
        self.redis = redis.Redis(connection_pool=pool)
        self.hub = Hub(self.redis)
        await self.hub.start()
        self.tenants = TenantDirectory(
            database_url=settings.DATABASE_URL, ttl=settings.INBOX_STREAM_TENANT_CACHE_SECONDS
        )
        limit = settings.INBOX_STREAM_MAX_CONNECTIONS
        logger.info("inbox stream ready (at most %d streams)", limit)

    async def shutdown(self) -> None:
        if self.hub:
            await self.hub.stop()
        if self.tenants:
            await self.tenants.close()
        if self.redis:
            await self.redis.aclose()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    try:
                        await self.startup()
                    except Exception as exc:  # noqa: BLE001 - reported to uvicorn, which exits
                        await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        await self.http(scope, receive, send)

    # --- requests ------------------------------------------------------------------------

    async def http(self, scope, receive, send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        if path in ("/healthz", "/healthz/"):
            body = {"status": "ok", "streams": self.open}
            await _json(send, 200, body)
            return
        match = _PATH.match(path)
        if not match:
            await _error(send, 404, "not_found", "Not found.")
            return
        try:
            tenant = await self.tenants.lookup(headers.get("host", ""))
        except psycopg.Error:
            await _error(send, 503, "service_unavailable", "The database is unavailable.",
                         headers=[("retry-after", "5")])  # fmt: skip
            return
        cors = self._cors_headers(tenant, headers.get("origin"))
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            if cors:
                cors += [
                    ("access-control-allow-methods", "GET, OPTIONS"),
                    ("access-control-allow-headers", _ALLOW_HEADERS),
                    ("access-control-max-age", str(self.settings.CORS_PREFLIGHT_MAX_AGE)),
                ]
            await _respond(send, 200, b"", [("content-length", "0"), *cors])
            return
        if scope["method"] != "GET":
            message = f'Method "{scope["method"]}" not allowed.'
            await _error(send, 405, "method_not_allowed", message,
                         headers=[("allow", "GET"), *cors])  # fmt: skip
            return
        if tenant is None:
            await _error(send, 404, "not_found", "No tenant is served at this host.", headers=cors)
            return
        # As the REST inbox: the hash is of the id as the URL gives it, the id looked up
        # without surrounding spaces.
        named = unquote(match["subscriber_id"])
        subscriber_id = named.strip()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        provided = headers.get("x-subscriber-hash") or (query.get("hash") or [""])[-1]
        if not provided:
            await _error(send, 401, "not_authenticated",
                         "Authentication required: send `X-Subscriber-Hash` or `?hash=`.",
                         headers=[("www-authenticate", "SubscriberHash"), *cors])  # fmt: skip
            return
        if not subscriber_hash_valid(
            secret=tenant.inbox_secret, subscriber_id=named, provided=provided
        ):
            await _error(send, 401, "authentication_failed", "The subscriber hash is invalid.",
                         headers=[("www-authenticate", "SubscriberHash"), *cors])  # fmt: skip
            return
        if self.open >= self.settings.INBOX_STREAM_MAX_CONNECTIONS:
            await _error(send, 503, "service_unavailable",
                         "This stream server holds as many streams as it may; retry shortly.",
                         headers=[("retry-after", "5"), *cors])  # fmt: skip
            return
        # `?last_event_id=` for a client that opens a new EventSource itself (which cannot
        # set the header) after the browser gave up reconnecting.
        last_event_id = (
            headers.get("last-event-id") or (query.get("last_event_id") or [""])[-1]
        ).strip()
        if not _STREAM_ID.match(last_event_id):
            last_event_id = ""
        self.open += 1
        try:
            await self.stream(
                send,
                receive,
                key=stream_key(schema=tenant.schema, subscriber_id=subscriber_id),
                presence=presence_key(schema=tenant.schema, subscriber_id=subscriber_id),
                last_event_id=last_event_id,
                cors=cors,
            )
        finally:
            self.open -= 1

    def _cors_headers(self, tenant: StreamTenant | None, origin: str | None) -> list:
        if not origin:
            return []
        normalized = origin.strip().rstrip("/").lower()
        allowed = {o.strip().rstrip("/").lower() for o in self.settings.CORS_ALLOWED_ORIGINS}
        if tenant is not None:
            allowed |= tenant.cors_origins
        if normalized not in allowed:
            return [("vary", "origin")]
        return [("access-control-allow-origin", origin), ("vary", "origin")]

    async def stream(
        self, send, receive, *, key: str, presence: str, last_event_id: str, cors: list
    ) -> None:
        queue: asyncio.Queue = asyncio.Queue()
        closed = object()
        ttl = self.settings.INBOX_STREAM_TTL_SECONDS

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            queue.put_nowait(closed)

        watcher = asyncio.create_task(watch_disconnect())
        started = False
        try:
            # In this order, so that nothing falls between history and live events: writers
            # keep history for this subscriber from now on (presence); a new stream starts
            # from the newest event kept; the subscription is live; then what was appended
            # since the starting id is read from the Redis Stream.
            try:
                await self.redis.set(presence, b"1", ex=ttl)
                last = last_event_id
                if not last:
                    newest = await self.redis.xrevrange(key, count=1)
                    last = newest[0][0].decode() if newest else "0-0"
                await self.hub.add(key, queue)
                history, newest_id = await self._since(key, last)
            except (TimeoutError, redis.RedisError, OSError):
                await _error(send, 503, "service_unavailable", "Redis is unavailable.",
                             headers=[("retry-after", "5"), *cors])  # fmt: skip
                return
            await send({
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *((k.encode(), v.encode()) for k, v in cors),
                ],
            })  # fmt: skip
            started = True
            head = f"retry: {_RETRY_MS}\n".encode()
            if not last_event_id:
                head += f"id: {last}\n\n".encode()
            last = newest_id
            await send({"type": "http.response.body", "body": head + history, "more_body": True})
            heartbeat = self.settings.INBOX_STREAM_HEARTBEAT_SECONDS
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), heartbeat)
                except TimeoutError:
                    await self.redis.set(presence, b"1", ex=ttl)
                    await send({"type": "http.response.body", "body": b": ping\n\n",
                                "more_body": True})  # fmt: skip
                    continue
                if item is closed:
                    return
                if item is RESYNC:
                    body, last = await self._since(key, last)
                else:
                    stream_id, event, data = item
                    if _stream_id_key(stream_id) <= _stream_id_key(last):
                        continue  # already sent from the stream's history
                    body, last = _sse(stream_id, event, data), stream_id
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        except (OSError, redis.RedisError) as exc:
            # The client reconnects with its Last-Event-ID and misses nothing.
            logger.warning("inbox stream closed: %s", type(exc).__name__)
        finally:
            watcher.cancel()
            await self.hub.remove(key, queue)
            if started:
                try:
                    await send({"type": "http.response.body", "body": b""})
                except OSError:
                    pass

    async def _since(self, key: str, last: str) -> tuple[bytes, str]:
        """The SSE text of every entry after `last`, and the new last id."""
        entries = await self.redis.xrange(key, min=f"({last}", max="+")
        chunks = []
        for raw_id, fields in entries:
            last = raw_id.decode()
            chunks.append(_sse(last, fields[b"e"].decode(), fields[b"d"].decode()))
        return b"".join(chunks), last


async def _respond(send, status: int, body: bytes, headers: list) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(k.encode(), v.encode()) for k, v in headers],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def _json(send, status: int, payload: dict, headers: list | None = None) -> None:
    body = json.dumps(payload).encode()
    await _respond(send, status, body, [
        ("content-type", "application/json"), ("content-length", str(len(body))), *(headers or [])
    ])  # fmt: skip


async def _error(send, status: int, code: str, message: str, headers: list | None = None) -> None:
    # The API's error envelope (platform_core.api.errors), for the stream's few answers.
    await _json(send, status, {"error": {"code": code, "message": message}}, headers)


app = StreamApp()
