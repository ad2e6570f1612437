"""`consume_events --source`: which server, which stream or queue."""

import pytest

from platform_core.bus import SourceError, source_parse


@pytest.mark.parametrize(
    ("url", "kind", "server", "name"),
    [
        ("redis://r.internal:6379/0/events", "redis", "redis://r.internal:6379/0", "events"),
        ("redis://:pw@r.internal/events", "redis", "redis://:pw@r.internal", "events"),
        ("rediss://r.internal:6380/2/a%2Fb", "redis", "rediss://r.internal:6380/2", "a/b"),
        ("unix:///run/redis.sock/events?db=1", "redis", "unix:///run/redis.sock?db=1", "events"),
        ("amqp://u:p@mq:5672//events", "amqp", "amqp://u:p@mq:5672//", "events"),
        ("amqp://u:p@mq:5672/events", "amqp", "amqp://u:p@mq:5672//", "events"),
        ("amqp://u:p@mq/prod/events.in", "amqp", "amqp://u:p@mq/prod", "events.in"),
        ("amqps://u:p@mq/%2F/events", "amqp", "amqps://u:p@mq//", "events"),
    ],
)
def test_the_last_path_segment_names_the_stream_or_queue(url, kind, server, name):
    source = source_parse(url)
    assert (source.kind, source.server_url, source.name) == (kind, server, name)


@pytest.mark.parametrize(
    "url",
    ["redis://r.internal:6379/", "amqp://mq//", "kafka://k/events", "unix:///events", "events"],
)
def test_a_source_without_a_name_or_of_another_kind_is_refused(url):
    with pytest.raises(SourceError):
        source_parse(url)


def test_the_command_says_what_is_wrong_with_the_source():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="must end with /<stream or queue name>"):
        call_command("consume_events", "--source", "redis://r.internal:6379/")
