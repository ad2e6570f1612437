"""One Redis pub/sub connection per process, shared by every open stream.

A stream subscribes to its subscriber's channel (the stream key) before it reads what it
missed, so nothing published in between is lost; the hub counts subscribe confirmations, so
`add` returns only once Redis has the subscription. The channel is unsubscribed when its last
stream closes. After a lost Redis connection every stream is told to read its key again from
its last id (`RESYNC`): what was published meanwhile is in the Redis Stream.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as redis

logger = logging.getLogger(__name__)

RESYNC = ("", "", "")
# The hub's own channel, so that the pub/sub connection always has a subscription to read.
_IDLE_CHANNEL = "clarion:inbox:-"


class Hub:
    def __init__(self, client: redis.Redis):
        self.client = client
        self.pubsub = client.pubsub()
        self.queues: dict[str, set[asyncio.Queue]] = {}
        self._pending: dict[str, int] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.pubsub.subscribe(_IDLE_CHANNEL)
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.pubsub.aclose()

    async def add(self, channel: str, queue: asyncio.Queue, timeout: float = 5) -> None:
        """Deliver `channel`'s messages to `queue` from now on (TimeoutError if Redis lags)."""
        async with self._lock:
            queues = self.queues.setdefault(channel, set())
            queues.add(queue)
            if len(queues) == 1:
                self._ready[channel] = asyncio.Event()
                self._pending[channel] = self._pending.get(channel, 0) + 1
                await self.pubsub.subscribe(channel)
            ready = self._ready[channel]
        await asyncio.wait_for(ready.wait(), timeout)

    async def remove(self, channel: str, queue: asyncio.Queue) -> None:
        async with self._lock:
            queues = self.queues.get(channel)
            if queues is None:
                return
            queues.discard(queue)
            if not queues:
                del self.queues[channel]
                self._ready.pop(channel, None)
                try:
                    await self.pubsub.unsubscribe(channel)
                except redis.RedisError:
                    pass  # the listener reconnects and subscribes only what is open

    def _confirmed(self, channel: str) -> None:
        left = self._pending.get(channel, 0) - 1
        if left > 0:
            self._pending[channel] = left
            return
        self._pending.pop(channel, None)
        if channel in self._ready:
            self._ready[channel].set()

    def _deliver(self, channel: str, data: str) -> None:
        stream_id, _, rest = data.partition(" ")
        event, _, payload = rest.partition(" ")
        for queue in self.queues.get(channel, ()):
            queue.put_nowait((stream_id, event, payload))

    async def _listen(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                logger.warning("inbox stream lost Redis (%s); reconnecting", type(exc).__name__)
                await self._reconnect()
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe":
                self._confirmed(channel)
            elif message["type"] == "message":
                self._deliver(channel, message["data"].decode())

    async def _reconnect(self) -> None:
        while True:
            await asyncio.sleep(1)
            try:
                async with self._lock:
                    await self.pubsub.aclose()
                    self.pubsub = self.client.pubsub()
                    self._pending.clear()
                    await self.pubsub.subscribe(_IDLE_CHANNEL, *self.queues)
            except (redis.RedisError, OSError):
                continue
            for queues in self.queues.values():
                for queue in queues:
                    queue.put_nowait(RESYNC)
            return
