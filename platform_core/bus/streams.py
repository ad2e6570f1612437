"""Consuming a Redis stream through a consumer group (https://redis.io/docs/latest/develop/data-types/streams/).

- The group is created at the stream's start (`XGROUP CREATE … 0 MKSTREAM`) if missing, so
  entries added before the first consumer ran are read too.
- At start the consumer first takes back its own pending entries (`XREADGROUP … 0`: read by
  it before a restart under the same `--consumer` name, never acknowledged), then reads new
  ones (`XREADGROUP … >`).
- Every `claim_interval`, entries pending on any consumer for longer than `claim_min_idle`
  (a consumer that died) are claimed with `XAUTOCLAIM` and handled here.
- An entry is acknowledged (`XACK`) only after its handler returned, that is after the
  notification committed. A rejected entry is added to the dead-letter stream and
  acknowledged in one MULTI/EXEC, so it is never both lost and acknowledged.

Delivery is at least once: an entry whose consumer died between the commit and the XACK is
handled again, and the trigger's idempotency by `transaction_id` accepts it once.
"""

from __future__ import annotations

import json
import logging
import time

import redis

from platform_core.bus.base import (
    Counts,
    Handler,
    Message,
    Outcome,
    Stopper,
    dead_letter_error,
    handle,
    now_iso,
)

logger = logging.getLogger("platform_core.bus")

BODY_FIELD = "body"
RECONNECT_MAX_SECONDS = 30.0


class StreamConsumer:
    """One consumer of a group on one stream; `run()` returns when a stop is asked for."""

    def __init__(
        self,
        *,
        server_url: str,
        stream: str,
        handler: Handler,
        group: str,
        consumer: str,
        dead_letter: str,
        prefetch: int = 10,
        claim_min_idle: float = 60.0,
        claim_interval: float | None = None,
        block_seconds: float = 1.0,
        stopper: Stopper | None = None,
    ):
        self.server_url = server_url
        self.stream = stream
        self.handler = handler
        self.group = group
        self.consumer = consumer
        self.dead_letter = dead_letter
        self.prefetch = max(1, prefetch)
        self.claim_min_idle_ms = int(claim_min_idle * 1000)
        self.claim_interval = (
            claim_interval
            if claim_interval is not None
            else min(max(claim_min_idle / 2, 0.5), 30.0)
        )
        self.block_ms = max(1, int(block_seconds * 1000))
        self.stopper = stopper or Stopper()
        self.counts = Counts()
        self._next_claim = 0.0

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.server_url,
            socket_connect_timeout=5,
            socket_timeout=self.block_ms / 1000 + 10,
            health_check_interval=30,
        )

    def run(self) -> Counts:
        """Consume until stopped; a lost connection to Redis is retried with backoff."""
        backoff = 0.5
        while not self.stopper.requested:
            client = self._client()
            try:
                self._ensure_group(client)
                backoff = 0.5
                self._consume(client)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                logger.warning(
                    "redis unavailable; reconnecting",
                    extra={"stream": self.stream, "error": str(exc)[:200], "retry_in": backoff},
                )
                if self.stopper.wait(backoff):
                    break
                backoff = min(backoff * 2, RECONNECT_MAX_SECONDS)
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream (and its group) was deleted while consumed: created again.
                logger.warning(
                    "stream or group gone; creating it again", extra={"stream": self.stream}
                )
            finally:
                client.close()
        return self.counts

    def _ensure_group(self, client: redis.Redis) -> None:
        try:
            client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            logger.info(
                "consumer group created", extra={"stream": self.stream, "group": self.group}
            )
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _consume(self, client: redis.Redis) -> None:
        # Own pending entries first (this consumer name, before a restart).
        while not self.stopper.requested:
            entries = self._read(client, "0", block=None)
            if not entries:
                break
            self._handle_entries(client, entries)
        while not self.stopper.requested:
            if time.monotonic() >= self._next_claim:
                self._claim(client)
                self._next_claim = time.monotonic() + self.claim_interval
                continue
            entries = self._read(client, ">", block=self.block_ms)
            self._handle_entries(client, entries)

    def _read(self, client: redis.Redis, start: str, block: int | None) -> list:
        reply = client.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=self.prefetch, block=block
        )
        return reply[0][1] if reply else []

    def _claim(self, client: redis.Redis) -> None:
        """Take over entries a dead consumer left pending for longer than the min idle time."""
        cursor = "0-0"
        while not self.stopper.requested:
            reply = client.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_min_idle_ms,
                start_id=cursor,
                count=self.prefetch,
            )
            cursor, entries = reply[0], reply[1]
            if entries:
                self.counts.reclaimed += len(entries)
                logger.info(
                    "reclaimed pending entries of another consumer",
                    extra={"stream": self.stream, "entries": len(entries)},
                )
                self._handle_entries(client, entries)
            if cursor in (b"0-0", "0-0"):
                return

    def _handle_entries(self, client: redis.Redis, entries: list) -> None:
        for entry_id, fields in entries:
            if self.stopper.requested:
                # Left pending on this consumer: taken back at its restart, or reclaimed.
                return
            entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if not fields:
                # Deleted from the stream while pending (XDEL, MAXLEN): nothing to handle.
                client.xack(self.stream, self.group, entry_id)
                continue
            self._handle_entry(client, entry_id, fields)

    def _handle_entry(self, client: redis.Redis, entry_id: str, fields: dict) -> None:
        body = fields.get(BODY_FIELD.encode())
        if body is None:
            body = json.dumps(
                {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}
            ).encode()
            outcome, error = (
                Outcome.REJECTED,
                {
                    "code": "invalid_message",
                    "message": f"A stream entry carries its JSON document in the field "
                    f"'{BODY_FIELD}'.",
                },
            )
        else:
            message = Message(body=body, stable_id=entry_id, source=self.stream)
            outcome, error = handle(self.handler, message, self.stopper, self.counts)
        if outcome is Outcome.ACCEPTED:
            client.xack(self.stream, self.group, entry_id)
            self.counts.accepted += 1
        elif outcome is Outcome.REJECTED:
            self._dead_letter(client, entry_id, body, error)
            self.counts.rejected += 1

    def _dead_letter(self, client: redis.Redis, entry_id: str, body: bytes, error: dict) -> None:
        logger.warning(
            "message dead-lettered",
            extra={
                "stream": self.stream,
                "entry_id": entry_id,
                "dead_letter": self.dead_letter,
                "code": error.get("code"),
            },
        )
        pipe = client.pipeline(transaction=True)
        pipe.xadd(
            self.dead_letter,
            {
                BODY_FIELD: body,
                "error": dead_letter_error(error),
                "source": self.stream,
                "source_id": entry_id,
                "consumer": self.consumer,
                "failed_at": now_iso(),
            },
        )
        pipe.xack(self.stream, self.group, entry_id)
        pipe.execute()
