"""The inbox stream process started for a test, and a small asyncio Server-Sent Events client
over plain HTTP/1.1 (for tests and bench/).

The client reads the stream as a browser's EventSource does (fields `id`, `event`, `data`,
comments ignored), one connection per `SseStream`, so a thousand of them cost one task each.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(proc: subprocess.Popen, port: int, log: str, timeout: float = 30) -> None:
    """Until 127.0.0.1:`port` answers /healthz; RuntimeError if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {port} did not start; see {log}") from None
            time.sleep(0.1)


def start_stream_server(
    *, env: dict[str, str], port: int | None = None
) -> tuple[subprocess.Popen, int]:
    """`python -m notifications.stream` on 127.0.0.1 (a free port unless given), answering
    /healthz."""
    port = port or free_port()
    (BASE_DIR / ".data").mkdir(exist_ok=True)
    log = BASE_DIR / ".data" / f"test-stream-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifications.stream", "--host", "127.0.0.1", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_health(proc, port, str(log))
    except RuntimeError:
        proc.kill()
        proc.wait()
        raise
    return proc, port


@dataclass
class Event:
    id: str | None
    event: str
    data: str
    # Wall-clock time (comparable with the database's timestamps on this machine).
    received_at: float = field(default_factory=time.time)

    def json(self):
        return json.loads(self.data)


class SseStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.last_id: str | None = None
        self._buffer = ""

    @classmethod
    async def open(
        cls,
        port: int,
        path: str,
        *,
        host: str,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> SseStream:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, limit=2**20), timeout
        )
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Accept: text/event-stream"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        stream = cls(reader, writer)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        stream.status = int(status_line.split()[1])
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                stream.headers[name.strip().lower()] = value.strip()
        if stream.status != 200:
            length = int(stream.headers.get("content-length", "0"))
            stream.body = await asyncio.wait_for(reader.readexactly(length), timeout)
            writer.close()
        return stream

    async def _line(self) -> str:
        # uvicorn sends the stream chunked: a size line, the data, CRLF.
        while True:
            if self._buffer:
                line, sep, rest = self._buffer.partition("\n")
                if sep:
                    self._buffer = rest
                    return line
            size_line = await self.reader.readline()
            if not size_line:
                raise ConnectionError("stream closed")
            size = int(size_line.strip() or b"0", 16)
            if size == 0:
                raise ConnectionError("stream ended")
            chunk = await self.reader.readexactly(size + 2)
            self._buffer += chunk[:-2].decode()

    async def next(self, timeout: float = 10, *, with_bare_ids: bool = False) -> Event:
        """The next dispatched event (a bare `id:` block only updates `last_id`)."""
        async with asyncio.timeout(timeout):
            fields: dict[str, str] = {}
            data: list[str] = []
            while True:
                line = await self._line()
                if line == "":
                    if "id" in fields:
                        self.last_id = fields["id"]
                    if data:
                        return Event(fields.get("id"), fields.get("event", "message"),
                                     "\n".join(data))  # fmt: skip
                    if with_bare_ids and "id" in fields:
                        return Event(fields["id"], "", "")
                    fields, data = {}, []
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    data.append(value)
                else:
                    fields[name] = value

    async def events_within(self, seconds: float) -> list[Event]:
        """Every event that arrives in the next `seconds`."""
        events = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                events.append(await self.next(left))
            except TimeoutError:
                break
        return events

    def close(self) -> None:
        self.writer.close()
