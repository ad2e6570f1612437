"""What the broker holds: messages waiting per queue, on Redis or RabbitMQ alike."""

from __future__ import annotations

from collections.abc import Iterable

from kombu import Connection


def queue_depths(broker: Connection, names: Iterable[str]) -> dict[str, int]:
    """Messages waiting (not yet delivered to a worker) in each named queue.

    Redis: the length of the queue's list. RabbitMQ (and other AMQP brokers): a passive
    `queue.declare`, which reports the count without creating the queue; a queue no worker
    has declared yet holds nothing.
    """
    names = list(names)
    if broker.transport.driver_type == "redis":
        with broker.channel() as channel:
            return {name: channel.client.llen(name) for name in names}
    depths: dict[str, int] = {}
    channel = broker.channel()
    try:
        for name in names:
            try:
                depths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except broker.channel_errors:
                # NOT_FOUND: no such queue yet; the broker closed the channel with it.
                depths[name] = 0
                channel = broker.channel()
    finally:
        channel.close()
    return depths
