"""Consuming a RabbitMQ queue through kombu, with manual acknowledgements.

- The queue is declared durable (and the dead-letter queue beside it), so messages published
  as persistent (`delivery_mode=2`) survive a broker restart. Producers publish to the
  default exchange with the queue's name as routing key, or to any exchange bound to it.
- At most `prefetch` messages are unacknowledged at once (`basic.qos`).
- A message is acknowledged only after its handler returned, that is after the notification
  committed. A consumer that dies before that leaves the message unacknowledged: RabbitMQ
  delivers it again (to another consumer, or this one after a restart) with `redelivered`.
- A rejected message is published to the dead-letter queue with publisher confirms on, and
  acknowledged once the broker confirmed it: never both lost and acknowledged.
"""

from __future__ import annotations

import logging

from kombu import Connection, Consumer, Exchange, Producer, Queue

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

RECONNECT_MAX_SECONDS = 30.0
DEFAULT_EXCHANGE = Exchange("")


def durable_queue(name: str) -> Queue:
    """A durable queue on the default exchange (routing key = its name)."""
    return Queue(name, exchange=DEFAULT_EXCHANGE, routing_key=name, durable=True)


class AmqpConsumer:
    """One consumer of one queue; `run()` returns when a stop is asked for."""

    def __init__(
        self,
        *,
        server_url: str,
        queue: str,
        handler: Handler,
        dead_letter: str,
        consumer: str,
        prefetch: int = 10,
        poll_seconds: float = 1.0,
        stopper: Stopper | None = None,
    ):
        self.server_url = server_url
        self.queue = durable_queue(queue)
        self.dead_letter = durable_queue(dead_letter)
        self.handler = handler
        self.consumer = consumer
        self.prefetch = max(1, prefetch)
        self.poll_seconds = poll_seconds
        self.stopper = stopper or Stopper()
        self.counts = Counts()

    def _connection(self) -> Connection:
        return Connection(
            self.server_url,
            connect_timeout=5,
            heartbeat=30,
            # The dead-letter publish returns once the broker has the message.
            transport_options={"confirm_publish": True},
        )

    def run(self) -> Counts:
        """Consume until stopped; a lost connection is retried with backoff."""
        backoff = 0.5
        while not self.stopper.requested:
            conn = self._connection()
            recoverable = (
                OSError,
                *conn.recoverable_connection_errors,
                *conn.recoverable_channel_errors,
            )
            try:
                with conn:
                    conn.ensure_connection(max_retries=1)
                    backoff = 0.5
                    self._consume(conn)
            except recoverable as exc:
                logger.warning(
                    "broker unavailable; reconnecting",
                    extra={"queue": self.queue.name, "error": str(exc)[:200], "retry_in": backoff},
                )
                if self.stopper.wait(backoff):
                    break
                backoff = min(backoff * 2, RECONNECT_MAX_SECONDS)
        return self.counts

    def _consume(self, conn: Connection) -> None:
        channel = conn.channel()
        self.queue(channel).declare()
        self.dead_letter(channel).declare()
        producer = Producer(channel)

        def on_message(raw) -> None:
            if self.stopper.requested:
                return  # not acknowledged: back to the queue when the channel closes
            self._handle(raw, producer)

        consumer = Consumer(
            channel,
            queues=[self.queue],
            on_message=on_message,
            prefetch_count=self.prefetch,
            tag_prefix=f"{self.consumer}-",
        )
        with consumer:
            while not self.stopper.requested:
                try:
                    conn.drain_events(timeout=self.poll_seconds)
                except TimeoutError:
                    pass
                # Sends a heartbeat when one is due (rate-limited by kombu).
                conn.heartbeat_check()
        channel.close()

    def _handle(self, raw, producer: Producer) -> None:
        properties = raw.properties or {}
        stable_id = properties.get("message_id")
        body = raw.body
        if isinstance(body, str):  # py-amqp decodes bodies that name a content_encoding
            body = body.encode(raw.content_encoding or "utf-8", "surrogateescape")
        message = Message(body=body, stable_id=stable_id, source=self.queue.name)
        outcome, error = handle(self.handler, message, self.stopper, self.counts)
        if outcome is Outcome.ACCEPTED:
            raw.ack()
            self.counts.accepted += 1
        elif outcome is Outcome.REJECTED:
            self._dead_letter(raw, body, producer, error)
            raw.ack()
            self.counts.rejected += 1

    def _dead_letter(self, raw, body: bytes, producer: Producer, error: dict) -> None:
        logger.warning(
            "message dead-lettered",
            extra={
                "queue": self.queue.name,
                "dead_letter": self.dead_letter.name,
                "code": error.get("code"),
            },
        )
        headers = dict(raw.headers or {})
        headers.update(
            {
                "x-clarion-error": dead_letter_error(error),
                "x-clarion-source": self.queue.name,
                "x-clarion-consumer": self.consumer,
                "x-clarion-failed-at": now_iso(),
            }
        )
        properties = raw.properties or {}
        extra = {"message_id": properties["message_id"]} if properties.get("message_id") else {}
        producer.publish(
            body,
            exchange=DEFAULT_EXCHANGE,
            routing_key=self.dead_letter.name,
            headers=headers,
            content_type=raw.content_type or "application/json",
            content_encoding=raw.content_encoding or "utf-8",
            delivery_mode=2,
            **extra,
        )
