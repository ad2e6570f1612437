"""Fake providers at the network boundary, so tests run the real connector code.

`FakeSmtpServer` (aiosmtpd) stands in for an SMTP relay, `FakeHttpServer` (http.server) for
Twilio, an ESP's API, FCM, a push service or a webhook receiver. Both listen on 127.0.0.1 on
a free port, run in a background thread, record what arrived and answer by plan.

Registered as a pytest plugin (`pytest_plugins = ["tests.fakes"]` in tests/conftest.py): the
fixtures `smtp_server` and `http_server` give a started server for one test.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from requests.structures import CaseInsensitiveDict

LOCALHOST = "127.0.0.1"


def _wait(condition: threading.Condition, ready, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    with condition:
        while not ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            condition.wait(remaining)


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class SmtpEnvelope:
    """What the SMTP transaction carried besides the message: MAIL FROM and RCPT TO."""

    mail_from: str
    rcpt_tos: list[str]


@dataclass
class _SmtpPlan:
    remaining: int
    reply: str
    stage: str  # "rcpt" or "data"


class _SmtpHandler:
    def __init__(self, fake: FakeSmtpServer):
        self.fake = fake

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.fake._cond:
            self.fake.ehlo_count += 1
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.fake._take_plan("rcpt")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.fake._take_plan("data")
        if reply:
            return reply
        self.fake._record(envelope)
        return "250 2.0.0 Message accepted for delivery"


class _CountingController(Controller):
    """aiosmtpd's threaded controller, bound to a free port, counting connections."""

    def __init__(self, fake: FakeSmtpServer, handler: _SmtpHandler, **kwargs: Any):
        super().__init__(handler, hostname=fake.host, port=0, **kwargs)
        self.fake = fake

    def _create_server(self):
        async def bind():
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return bind()

    def factory(self) -> SMTP:
        with self.fake._cond:
            self.fake.connections += 1  # aiosmtpd builds one SMTP protocol per connection
        return super().factory()


class FakeSmtpServer:
    """An SMTP server on 127.0.0.1 recording every accepted message.

    `auth=("user", "pass")` advertises AUTH (without requiring TLS) and accepts only that
    pair. `fail_next` / `reject_next` plan 4xx / 5xx replies for the next messages, at RCPT
    (default) or at DATA. `connections` and `ehlo_count` say how many SMTP sessions came.
    """

    def __init__(self, *, auth: tuple[str, str] | None = None):
        self.host = LOCALHOST
        self.port = 0
        self.auth = auth
        self.messages: list[EmailMessage] = []
        self.envelopes: list[SmtpEnvelope] = []
        self.connections = 0
        self.ehlo_count = 0
        self._plans: list[_SmtpPlan] = []
        self._cond = threading.Condition()
        self._controller: _CountingController | None = None

    # lifecycle
    def start(self) -> FakeSmtpServer:
        kwargs: dict[str, Any] = {"ready_timeout": 10}
        if self.auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = _CountingController(self, _SmtpHandler(self), **kwargs)
        self._controller.start()
        self.port = self._controller.port
        with self._cond:
            self.connections = 0  # the controller's own start-up probe does not count
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # planning
    def fail_next(
        self, n: int = 1, code: int = 451, message: str = "try later", *, stage: str = "rcpt"
    ) -> None:
        """Reply a temporary failure (4xx) to the next `n` messages at RCPT or DATA."""
        self._plan(n, code, message, stage)

    def reject_next(
        self,
        n: int = 1,
        code: int = 550,
        message: str = "mailbox unavailable",
        *,
        stage: str = "rcpt",
    ) -> None:
        """Reply a permanent failure (5xx) to the next `n` messages at RCPT or DATA."""
        self._plan(n, code, message, stage)

    def stall_after(
        self, count: int, *, timeout: float = 30
    ) -> tuple[threading.Event, threading.Event]:
        """Hold the DATA of the message after the first `count` until released (or `timeout`),
        then answer it 451: a provider that hangs mid-batch. Returns (stalled, released)."""
        stalled, released = threading.Event(), threading.Event()
        take_plan = self._take_plan

        def stall(stage: str) -> str | None:
            if stage == "data" and len(self.messages) == count and not released.is_set():
                stalled.set()
                released.wait(timeout)
                return "451 connection went away"
            return take_plan(stage)

        self._take_plan = stall
        return stalled, released

    def _plan(self, n: int, code: int, message: str, stage: str) -> None:
        if stage not in ("rcpt", "data"):
            raise ValueError("stage is 'rcpt' or 'data'")
        with self._cond:
            self._plans.append(_SmtpPlan(n, f"{code} {message}", stage))

    def _take_plan(self, stage: str) -> str | None:
        # NOTE: counts one reply per RCPT: one message per recipient, as Clarion sends them.
        with self._cond:
            for plan in self._plans:
                if plan.stage == stage and plan.remaining > 0:
                    plan.remaining -= 1
                    return plan.reply
        return None

    def reset(self) -> None:
        """Forget recorded messages, counters and plans."""
        with self._cond:
            self.messages.clear()
            self.envelopes.clear()
            self._plans.clear()
            self.connections = 0
            self.ehlo_count = 0

    # recording
    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            )
            == self.auth
        )
        return AuthResult(success=ok, handled=False)

    def _record(self, envelope) -> None:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        with self._cond:
            self.messages.append(parsed)
            self.envelopes.append(SmtpEnvelope(envelope.mail_from, list(envelope.rcpt_tos)))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived; TimeoutError otherwise."""
        _wait(self._cond, lambda: len(self.messages) >= count, timeout, f"{count} messages")
        with self._cond:
            return list(self.messages)


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the fake HTTP server received."""

    method: str
    path: str  # with the query string
    headers: CaseInsensitiveDict
    body: bytes
    # When it arrived (time.monotonic()), for tests of send rates.
    received_at: float = field(default_factory=time.monotonic)

    @property
    def url_path(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        """An application/x-www-form-urlencoded body, as `urllib.parse.parse_qs` gives it."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)

    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode("utf-8").partition(":")
        return user, password


@dataclass
class _HttpPlan:
    status: int
    body: bytes
    headers: dict[str, str]
    times: int | None  # None: until reset
    delay: float
    path_prefix: str | None

    def matches(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real APIs
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=CaseInsensitiveDict(dict(self.headers.items())),
            body=body,
        )
        fake = self.server.fake
        plan = fake._record_and_plan(request)
        if plan.delay and fake._stopping.wait(plan.delay):
            self.close_connection = True
            return
        self.send_response(plan.status)
        headers = {"Content-Type": "application/json", **plan.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(plan.body)))
        self.end_headers()
        self.wfile.write(plan.body)

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass  # quiet: pytest shows what matters


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeHttpServer

    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and hung up is expected in these tests


class FakeHttpServer:
    """An HTTP server on 127.0.0.1 recording every request and answering by plan.

    `respond(...)` adds a plan. A plan with `times=n` answers the next n matching requests
    and is then used up; such plans are consumed in the order they were added. A plan with
    `times=None` answers every matching request until `reset()` (the latest one wins) and is
    consulted only when no counted plan matches: a per-path default, e.g. a token endpoint.
    With no plan, the answer is 200 `{}`. `path_prefix` restricts a plan to matching paths.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self._plans: list[_HttpPlan] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return LOCALHOST

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def start(self) -> FakeHttpServer:
        self._stopping.clear()
        self._server = _Server((LOCALHOST, 0), _HttpHandler)
        self._server.fake = self
        original_verify = self._server.verify_request

        def count_connection(request, client_address) -> bool:
            with self._cond:
                self.connections += 1
            return original_verify(request, client_address)

        self._server.verify_request = count_connection
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases handlers sleeping on a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def respond(
        self,
        status: int = 200,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        times: int | None = None,
        delay: float = 0.0,
        path_prefix: str | None = None,
        *,
        body: bytes | str | None = None,
    ) -> None:
        """Plan an answer: `json_body` (serialised) or raw `body`, after `delay` seconds."""
        if body is None:
            payload = b"" if json_body is None else json.dumps(json_body).encode("utf-8")
        else:
            payload = body.encode("utf-8") if isinstance(body, str) else body
        plan_headers = dict(headers or {})
        if body is not None:
            plan_headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        with self._cond:
            self._plans.append(_HttpPlan(status, payload, plan_headers, times, delay, path_prefix))

    def _record_and_plan(self, request: RecordedRequest) -> _HttpPlan:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
            for plan in self._plans:
                if plan.times is not None and plan.times > 0 and plan.matches(request.url_path):
                    plan.times -= 1
                    return plan
            for plan in reversed(self._plans):
                if plan.times is None and plan.matches(request.url_path):
                    return plan
        return _HttpPlan(200, b"{}", {}, None, 0.0, None)

    def reset(self) -> None:
        """Forget recorded requests, the connection count and every plan."""
        with self._cond:
            self.requests.clear()
            self._plans.clear()
            self.connections = 0

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least `count` requests arrived; TimeoutError otherwise."""
        _wait(self._cond, lambda: len(self.requests) >= count, timeout, f"{count} requests")
        with self._cond:
            return list(self.requests)

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        """The recorded requests whose path starts with `path_prefix`."""
        with self._cond:
            return [r for r in self.requests if r.url_path.startswith(path_prefix)]


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def smtp_server():
    """A started FakeSmtpServer for one test."""
    server = FakeSmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_server():
    """A started FakeHttpServer for one test."""
    server = FakeHttpServer().start()
    try:
        yield server
    finally:
        server.stop()


__all__ = [
    "FakeHttpServer",
    "FakeSmtpServer",
    "RecordedRequest",
    "SmtpEnvelope",
]
