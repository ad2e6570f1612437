"""The real-time inbox: the stream process (uvicorn, started here on 127.0.0.1) against this
suite's PostgreSQL and Redis, fed by a real worker's in-app sends and the inbox API's writes."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from django.db import connection

from notifications.inbox_events import EVENT_COUNT, EVENT_MESSAGE, subscriber_hash
from notifications.models import InboxMessage, Subscriber
from notifications.pipeline.inbox_live import inbox_events_publish
from tests.conftest import ApiClient, stop_process, worker_env
from tests.notifications.pipeline_helpers import make_workflow
from tests.sse import SseStream, start_stream_server

pytestmark = pytest.mark.worker


@pytest.fixture(scope="module")
def stream_server(test_tenants):
    proc, port = start_stream_server(env=worker_env())
    yield port
    stop_process(proc)


def _path(subscriber_id: str, digest: str | None = None) -> str:
    path = f"/api/v1/inbox/{subscriber_id}/stream"
    return f"{path}?hash={digest}" if digest else path


def _open(port, live, subscriber_id, **headers):
    digest = subscriber_hash(secret=live.tenant.inbox_secret, subscriber_id=subscriber_id)
    return SseStream.open(port, _path(subscriber_id, digest), host=live.host, headers=headers)


def test_a_triggered_in_app_message_reaches_an_open_stream_within_a_second(
    live, live_api, celery_worker, stream_server, unique
):
    # given: an in-app workflow and an open stream for its recipient
    event = make_workflow(
        unique,
        [{"channel": "in_app", "subject": "Order {{ payload.order_id }}", "body": "Shipped!"}],
    )
    subscriber_id = f"live-{unique}"
    Subscriber.objects.create(subscriber_id=subscriber_id, first_name="Ada")

    async def scenario():
        stream = await _open(stream_server, live, subscriber_id)
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        await stream.next(5, with_bare_ids=True)  # the starting id
        # when: a trigger (the real API, the real worker)
        response = await asyncio.to_thread(
            live_api.post,
            "/api/v1/events/trigger",
            {"event": event, "to": [subscriber_id], "payload": {"order_id": "S-1"}},
        )
        assert response.status_code == 202, response.content
        message = await stream.next(30)
        count = await stream.next(5)
        stream.close()
        return message, count

    message, count = asyncio.run(scenario())

    # then: the message as the inbox API shows it, then the counts, each with an id
    stored = InboxMessage.objects.get(subscriber__subscriber_id=subscriber_id)
    assert message.event == EVENT_MESSAGE and message.id
    listed = live_api.get(
        f"/api/v1/inbox/{subscriber_id}/messages",
        HTTP_X_SUBSCRIBER_HASH=subscriber_hash(
            secret=live.tenant.inbox_secret, subscriber_id=subscriber_id
        ),
    ).json()["results"][0]
    assert message.json() == listed
    assert listed["title"] == "Order S-1" and listed["body"] == "Shipped!"
    assert count.event == EVENT_COUNT and count.json() == {"unread": 1, "unseen": 1}
    # within a second of the send (its rows committed just before the event was published)
    assert message.received_at - stored.created_at.timestamp() < 1.0


def test_marking_read_through_the_inbox_api_sends_the_new_count(
    live, live_api, stream_server, unique
):
    # given: two unread messages and an open stream
    subscriber = Subscriber.objects.create(subscriber_id=f"reader-{unique}")
    first, _ = InboxMessage.objects.bulk_create(
        [
            InboxMessage(subscriber=subscriber, body="one"),
            InboxMessage(subscriber=subscriber, body="two"),
        ]
    )
    digest = subscriber_hash(
        secret=live.tenant.inbox_secret, subscriber_id=subscriber.subscriber_id
    )
    inbox = ApiClient(live.host)

    async def scenario():
        stream = await _open(stream_server, live, subscriber.subscriber_id)
        await stream.next(5, with_bare_ids=True)
        # when: the front end reads one, then all
        await asyncio.to_thread(
            inbox.post,
            f"/api/v1/inbox/{subscriber.subscriber_id}/messages/{first.pk}/read",
            HTTP_X_SUBSCRIBER_HASH=digest,
        )
        after_one = await stream.next(5)
        await asyncio.to_thread(
            inbox.post,
            f"/api/v1/inbox/{subscriber.subscriber_id}/read-all",
            HTTP_X_SUBSCRIBER_HASH=digest,
        )
        after_all = await stream.next(5)
        stream.close()
        return after_one, after_all

    after_one, after_all = asyncio.run(scenario())

    # then
    assert (after_one.event, after_one.json()) == (EVENT_COUNT, {"unread": 1, "unseen": 1})
    assert (after_all.event, after_all.json()) == (EVENT_COUNT, {"unread": 0, "unseen": 0})


@pytest.mark.parametrize(
    ("digest", "code"),
    [
        (None, "not_authenticated"),
        ("0" * 64, "authentication_failed"),
        ("other", "authentication_failed"),
    ],
)
def test_a_missing_or_wrong_hash_is_a_401_json_error(live, stream_server, digest, code):
    if digest == "other":  # the hash of another subscriber
        digest = subscriber_hash(secret=live.tenant.inbox_secret, subscriber_id="someone-else")

    async def scenario():
        return await SseStream.open(stream_server, _path("victim", digest), host=live.host)

    stream = asyncio.run(scenario())

    assert stream.status == 401
    assert stream.headers["content-type"] == "application/json"
    assert json.loads(stream.body)["error"]["code"] == code


def test_another_tenants_hash_and_an_unknown_host_are_refused(test_tenants, stream_server):
    acme, wonka = test_tenants["acme"], test_tenants["wonka"]
    acme_hash = subscriber_hash(secret=acme.tenant.inbox_secret, subscriber_id="ada")

    async def scenario():
        cross = await SseStream.open(stream_server, _path("ada", acme_hash), host=wonka.host)
        unknown = await SseStream.open(
            stream_server, _path("ada", acme_hash), host="nope.localhost"
        )
        return cross, unknown

    cross, unknown = asyncio.run(scenario())

    assert cross.status == 401
    assert unknown.status == 404
    assert json.loads(unknown.body)["error"]["code"] == "not_found"


def test_reconnecting_with_last_event_id_gets_exactly_what_it_missed(live, stream_server, unique):
    subscriber_id = f"resume-{unique}"
    schema = connection.schema_name

    def publish(*bodies: str) -> None:
        events = [
            (subscriber_id, EVENT_MESSAGE, {"id": n, "body": b}) for n, b in enumerate(bodies)
        ]
        assert inbox_events_publish(schema=schema, events=events) == len(bodies)

    async def scenario():
        # given: a stream that received one event, then dropped
        first = await _open(stream_server, live, subscriber_id)
        start = await first.next(5, with_bare_ids=True)
        await asyncio.to_thread(publish, "one")
        one = await first.next(5)
        first.close()
        # when: two more arrive while it is away, and it comes back with Last-Event-ID
        await asyncio.to_thread(publish, "two", "three")
        again = await _open(stream_server, live, subscriber_id, **{"Last-Event-ID": one.id})
        missed = [await again.next(5), await again.next(5)]
        extra = await again.events_within(0.5)
        await asyncio.to_thread(publish, "four")
        live_one = await again.next(5)
        again.close()
        # and a client that never saw an event resumes from the starting id it was given
        fresh = await _open(stream_server, live, subscriber_id, **{"Last-Event-ID": start.id})
        everything = [(await fresh.next(5)).json()["body"] for _ in range(4)]
        fresh.close()
        return one, missed, extra, live_one, everything

    one, missed, extra, live_one, everything = asyncio.run(scenario())

    # then: exactly the two it missed, in order, then live events as usual
    assert one.json()["body"] == "one"
    assert [event.json()["body"] for event in missed] == ["two", "three"]
    assert extra == []
    assert live_one.json()["body"] == "four"
    assert everything == ["one", "two", "three", "four"]
    ids = [one.id, *(event.id for event in missed), live_one.id]
    assert len(set(ids)) == 4


def test_a_thousand_open_streams_each_receive_their_event(live, stream_server, unique):
    count = 1000
    schema = connection.schema_name
    ids = [f"many-{unique}-{n}" for n in range(count)]

    async def scenario():
        # given: a thousand streams held open at once
        streams = await asyncio.gather(*(_open(stream_server, live, sid) for sid in ids))
        assert {stream.status for stream in streams} == {200}
        await asyncio.gather(*(stream.next(20, with_bare_ids=True) for stream in streams))
        # when: one event for each, in one pipeline (as a send batch publishes)
        events = [(sid, EVENT_MESSAGE, {"id": n, "body": sid}) for n, sid in enumerate(ids)]
        sent = time.monotonic()
        await asyncio.to_thread(inbox_events_publish, schema=schema, events=events)
        received = await asyncio.gather(*(stream.next(20) for stream in streams))
        elapsed = time.monotonic() - sent
        for stream in streams:
            stream.close()
        return received, elapsed

    received, elapsed = asyncio.run(scenario())

    # then: every stream got its own subscriber's event, and only that
    assert [event.json()["body"] for event in received] == ids
    assert elapsed < 20


def test_streams_beyond_the_limit_get_a_503(live, unique):
    proc, port = start_stream_server(env=worker_env(INBOX_STREAM_MAX_CONNECTIONS="2"))
    try:

        async def scenario():
            held = [await _open(port, live, f"cap-{unique}-{n}") for n in range(2)]
            refused = await _open(port, live, f"cap-{unique}-2")
            for stream in held:
                stream.close()
            return [stream.status for stream in held], refused

        held, refused = asyncio.run(scenario())
    finally:
        stop_process(proc)

    assert held == [200, 200]
    assert refused.status == 503
    assert json.loads(refused.body)["error"]["code"] == "service_unavailable"
    assert refused.headers["retry-after"]


def test_a_redis_that_is_down_costs_the_live_event_not_the_caller(settings, caplog, monkeypatch):
    # given: the stream's Redis unreachable (nothing listens on that socket)
    from notifications.pipeline import inbox_live

    settings.INBOX_STREAM_REDIS_URL = "unix:///nonexistent/clarion-redis.sock"
    monkeypatch.setattr(inbox_live, "_client", None)
    monkeypatch.setattr(inbox_live, "_append", None)

    # when
    started = time.monotonic()
    sent = inbox_events_publish(schema="acme", events=[("ada", EVENT_COUNT, {"unread": 1})])

    # then: nothing raised, quickly, and it is logged
    assert sent == 0
    assert time.monotonic() - started < 2
    assert "inbox stream publish failed" in caplog.text


def test_history_is_kept_only_for_subscribers_seen_on_a_stream(live, stream_server, unique):
    # given: one subscriber with a stream open once, another never
    import redis
    from django.conf import settings

    from notifications.inbox_events import stream_key

    schema = connection.schema_name
    seen, unseen = f"seen-{unique}", f"unseen-{unique}"

    async def visit():
        stream = await _open(stream_server, live, seen)
        await stream.next(5, with_bare_ids=True)
        stream.close()

    asyncio.run(visit())

    # when: an event for each
    inbox_events_publish(
        schema=schema,
        events=[(sid, EVENT_MESSAGE, {"id": 1, "body": sid}) for sid in (seen, unseen)],
    )

    # then: only the subscriber who was watching has a Redis Stream (for a later resume)
    client = redis.Redis.from_url(settings.INBOX_STREAM_REDIS_URL)
    assert client.xlen(stream_key(schema=schema, subscriber_id=seen)) == 1
    assert not client.exists(stream_key(schema=schema, subscriber_id=unseen))


def test_an_idle_stream_gets_heartbeat_comments(live, unique):
    proc, port = start_stream_server(env=worker_env(INBOX_STREAM_HEARTBEAT_SECONDS="0.3"))
    try:

        async def scenario():
            stream = await _open(port, live, f"idle-{unique}")
            await stream.next(5, with_bare_ids=True)
            lines = [await asyncio.wait_for(stream._line(), 2) for _ in range(4)]
            stream.close()
            return lines

        lines = asyncio.run(scenario())
    finally:
        stop_process(proc)

    # then: ": ping" comment blocks (ignored by EventSource), nothing else
    assert lines == [": ping", "", ": ping", ""]
