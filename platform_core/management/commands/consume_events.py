"""`manage.py consume_events --source redis://…/stream | amqp://…/queue`: bus ingestion."""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError

from notifications.api.bus import bus_message_accept
from platform_core.bus import (
    SourceError,
    Stopper,
    consumer_for,
    default_consumer_name,
    source_parse,
)

logger = logging.getLogger("platform_core.bus")


class Command(BaseCommand):
    help = (
        "Accept events from a Redis stream (consumer group) or a RabbitMQ queue: each message "
        'is a trigger body plus "tenant": "<slug>", acknowledged once its notification is '
        "committed; invalid messages go to a dead-letter stream or queue. SIGTERM stops it "
        "after the current message."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            required=True,
            help="redis://host:6379[/db]/<stream>, unix:///path/redis.sock/<stream>?db=N, "
            "or amqp://user:pass@host:5672[/vhost]/<queue>",
        )
        parser.add_argument(
            "--dead-letter",
            help="dead-letter stream or queue (default: <stream or queue>.dead)",
        )
        parser.add_argument(
            "--group", default="clarion", help="Redis consumer group (default: clarion)"
        )
        parser.add_argument(
            "--consumer",
            help="consumer name (default: <hostname>-<pid>); keep it stable across restarts "
            "to take back this consumer's own pending entries at once",
        )
        parser.add_argument(
            "--prefetch",
            type=int,
            default=10,
            help="messages read ahead and not yet acknowledged, at most (default: 10)",
        )
        parser.add_argument(
            "--claim-min-idle",
            type=float,
            default=60.0,
            help="Redis: seconds an entry stays pending on another consumer before it is "
            "reclaimed with XAUTOCLAIM (default: 60)",
        )

    def handle(self, *args, **options):
        try:
            source = source_parse(options["source"])
        except SourceError as exc:
            raise CommandError(str(exc)) from exc
        if options["prefetch"] < 1:
            raise CommandError("--prefetch must be at least 1")
        if options["claim_min_idle"] <= 0:
            raise CommandError("--claim-min-idle must be positive")
        stopper = Stopper()
        stopper.install()
        consumer_name = options["consumer"] or default_consumer_name()
        consumer = consumer_for(
            source,
            handler=bus_message_accept,
            stopper=stopper,
            consumer=consumer_name,
            dead_letter=options["dead_letter"] or f"{source.name}.dead",
            prefetch=options["prefetch"],
            group=options["group"],
            claim_min_idle=options["claim_min_idle"],
        )
        logger.info(
            "consuming events",
            extra={"source": str(source), "consumer": consumer_name},
        )
        self.stdout.write(f"consuming {source} as {consumer_name}", ending="\n")
        self.stdout.flush()
        counts = consumer.run()
        self.stdout.write(f"stopped: {counts.summary()}")
