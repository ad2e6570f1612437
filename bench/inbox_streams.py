"""Benchmark: the real-time inbox holding many open streams, and its delivery latency.

Starts the stream process (`python -m notifications.stream`, uvicorn) on a free port of
127.0.0.1 against a bench tenant, opens `--streams` Server-Sent Events streams at once (one
asyncio client each, each for its own subscriber, authenticated with the subscriber hash),
then measures, one event at a time, the latency from publishing an inbox event — what the
in-app send path does once its rows commit (`inbox_events_publish`: XADD + PUBLISH in one
pipeline) — to its receipt by the one client it is for; then one burst of an event for every
stream in one pipeline (as a send batch of that size publishes), to the last receipt.

The peer, in the same run and process: a bare Redis pub/sub round trip (PUBLISH from the same
synchronous client, received by an asyncio subscriber), the floor any Redis-fed stream sits
on. Prints p50/p99 of both, their ratio, the stream process's memory and the machine.

Usage: python bench/inbox_streams.py [--streams 1000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time

import harness


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def _streams(args, *, port: int, host: str, schema: str, secret: str) -> dict:
    from notifications.inbox_events import EVENT_MESSAGE, subscriber_hash
    from notifications.pipeline.inbox_live import inbox_events_publish
    from tests.sse import SseStream

    ids = [f"bench-{n}" for n in range(args.streams)]

    async def open_one(subscriber_id: str) -> SseStream:
        digest = subscriber_hash(secret=secret, subscriber_id=subscriber_id)
        path = f"/api/v1/inbox/{subscriber_id}/stream?hash={digest}"
        stream = await SseStream.open(port, path, host=host, timeout=60)
        assert stream.status == 200, (stream.status, stream.body)
        await stream.next(60, with_bare_ids=True)
        return stream

    started = time.perf_counter()
    streams = []
    for offset in range(0, len(ids), 200):  # connect in waves, as clients arrive
        streams += await asyncio.gather(*(open_one(sid) for sid in ids[offset : offset + 200]))
    opened = time.perf_counter() - started

    latencies = []
    for round_ in range(args.rounds):
        index = (round_ * 7919) % len(ids)
        event = [(ids[index], EVENT_MESSAGE, {"id": round_, "body": "hello"})]
        sent = time.perf_counter()
        await asyncio.to_thread(inbox_events_publish, schema=schema, events=event)
        received = await streams[index].next(10)
        latencies.append(time.perf_counter() - sent)
        assert received.json()["id"] == round_

    burst = [(sid, EVENT_MESSAGE, {"id": -1, "body": sid}) for sid in ids]
    sent = time.perf_counter()
    await asyncio.to_thread(inbox_events_publish, schema=schema, events=burst)
    arrived = await asyncio.gather(*(stream.next(30) for stream in streams))
    burst_seconds = time.perf_counter() - sent
    assert [event.json()["body"] for event in arrived] == ids
    for stream in streams:
        stream.close()
    return {"opened": opened, "latencies": latencies, "burst": burst_seconds}


async def _peer(args) -> list[float]:
    import redis
    import redis.asyncio as aioredis
    from django.conf import settings

    url = settings.INBOX_STREAM_REDIS_URL
    channel = "clarion:bench:peer"
    subscriber = aioredis.Redis.from_url(url).pubsub()
    await subscriber.subscribe(channel)
    await subscriber.get_message(timeout=5)  # the subscribe confirmation
    publisher = redis.Redis.from_url(url)
    latencies = []
    for round_ in range(args.rounds):
        sent = time.perf_counter()
        await asyncio.to_thread(publisher.publish, channel, str(round_))
        while True:
            message = await subscriber.get_message(timeout=10)
            if message and message["type"] == "message":
                break
        latencies.append(time.perf_counter() - sent)
    await subscriber.aclose()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    env = harness.bench_env()
    harness.prepare(env=env)
    import psutil

    tenant, _ = harness.create_tenant()
    host = "bench.localhost"
    processes = harness.Processes(env)
    port = _free_port()
    try:
        proc = processes.start(
            "stream",
            [sys.executable, "-m", "notifications.stream", "--host", "127.0.0.1", "--port",
             str(port)],
        )  # fmt: skip
        from tests.sse import wait_for_health

        wait_for_health(proc, port, str(harness.LOG_DIR / "stream.log"))
        rss_before = psutil.Process(proc.pid).memory_info().rss
        result = asyncio.run(
            _streams(args, port=port, host=host, schema=tenant.schema_name,
                     secret=tenant.inbox_secret)
        )  # fmt: skip
        rss_held = psutil.Process(proc.pid).memory_info().rss
        peer = asyncio.run(_peer(args))
    finally:
        processes.stop()

    stream_p50, stream_p99 = _quantiles(result["latencies"])
    peer_p50, peer_p99 = _quantiles(peer)
    print(f"machine: {harness.machine()}")
    print(f"streams held open at once: {args.streams} (opened in {result['opened']:.1f} s)")
    print(
        f"stream process RSS: {rss_before / 2**20:.0f} MB idle, {rss_held / 2**20:.0f} MB "
        f"holding {args.streams} ({(rss_held - rss_before) / args.streams / 1024:.1f} KB each)"
    )
    print(
        f"publish -> receipt, {args.rounds} events one at a time: "
        f"p50 {stream_p50:.2f} ms, p99 {stream_p99:.2f} ms"
    )
    print(
        f"peer, bare Redis PUBLISH -> SUBSCRIBE round trip: "
        f"p50 {peer_p50:.2f} ms, p99 {peer_p99:.2f} ms"
    )
    print(f"ratio stream/peer: p50 {stream_p50 / peer_p50:.2f}, p99 {stream_p99 / peer_p99:.2f}")
    print(
        f"burst: one event for each of the {args.streams} streams in one pipeline, last "
        f"received after {result['burst'] * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
