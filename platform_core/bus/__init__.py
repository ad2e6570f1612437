"""Event-bus consumers: Redis Streams and RabbitMQ, behind one handler contract.

The transports know nothing of what a message means; `consumer_for` builds the one a
`--source` URL names, around a handler that accepts (and commits) or rejects each message.
"""

from __future__ import annotations

import os
import socket

from platform_core.bus.amqp import AmqpConsumer
from platform_core.bus.base import Counts, Handler, Message, Rejected, RetryLater, Stopper
from platform_core.bus.sources import Source, SourceError, source_parse
from platform_core.bus.streams import StreamConsumer

__all__ = [
    "Counts",
    "Handler",
    "Message",
    "Rejected",
    "RetryLater",
    "Source",
    "SourceError",
    "Stopper",
    "consumer_for",
    "default_consumer_name",
    "source_parse",
]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def consumer_for(
    source: Source,
    *,
    handler: Handler,
    stopper: Stopper,
    consumer: str,
    dead_letter: str,
    prefetch: int,
    group: str,
    claim_min_idle: float,
):
    """The consumer of `source`: a Redis stream consumer-group member or an AMQP consumer."""
    if source.kind == "redis":
        return StreamConsumer(
            server_url=source.server_url,
            stream=source.name,
            handler=handler,
            group=group,
            consumer=consumer,
            dead_letter=dead_letter,
            prefetch=prefetch,
            claim_min_idle=claim_min_idle,
            stopper=stopper,
        )
    return AmqpConsumer(
        server_url=source.server_url,
        queue=source.name,
        handler=handler,
        dead_letter=dead_letter,
        consumer=consumer,
        prefetch=prefetch,
        stopper=stopper,
    )
