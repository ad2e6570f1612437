"""`<clarion-inbox>` in a real browser (Playwright with Debian's Chromium), embedded as a
customer would: a page on another origin, the tenant's API (gunicorn) and the inbox stream
(uvicorn) as real processes, a real worker sending. Screenshots go to .data/artifacts/browser/.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connections

from notifications.inbox_events import subscriber_hash
from notifications.models import InboxMessage, Subscriber
from tests.conftest import BASE_DIR, stop_process, worker_env
from tests.notifications.pipeline_helpers import make_workflow, wait_until
from tests.sse import free_port, start_stream_server, wait_for_health

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = BASE_DIR / ".data" / "artifacts" / "browser"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<script src="{api}/static/clarion/inbox.js" defer></script></head>
<body style="font-family: sans-serif"><nav style="display:flex;justify-content:space-between;
padding:8px 16px;border-bottom:1px solid #ddd"><b>Shop</b>
<clarion-inbox host="{api}" stream-host="{stream}" subscriber-id="{subscriber_id}"
 subscriber-hash="{digest}"></clarion-inbox></nav>
<script>
  window.arrivals = [];
  document.addEventListener("clarion-inbox:message",
    (event) => window.arrivals.push({{id: event.detail.id, at: Date.now()}}));
</script></body></html>"""


@pytest.fixture
def page_origin():
    """A page server on another origin than the API: the customer's own site."""
    holder: dict[str, bytes] = {"page": b""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(holder["page"])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}", holder
    server.shutdown()
    server.server_close()


class Servers:
    """gunicorn (the API) and the inbox stream, allowing the page's origin."""

    def __init__(self, origin: str):
        self.env = worker_env(CLARION_INBOX_CORS_ORIGINS=origin, LOG_LEVEL="WARNING")
        self.web_port = free_port()
        self.stream: subprocess.Popen | None = None
        self.stream_port = 0
        log = BASE_DIR / ".data" / f"test-web-{self.web_port}.log"
        self.web = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "platform_core.wsgi",
                "-c",
                str(BASE_DIR / "docker" / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "1",
                "--threads",
                "4",
            ],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_health(self.web, self.web_port, str(log), timeout=60)
        self.start_stream()

    def start_stream(self) -> None:
        self.stream, self.stream_port = start_stream_server(
            env=self.env, port=self.stream_port or None
        )

    def stop_stream(self) -> None:
        if self.stream is not None:
            stop_process(self.stream)
            self.stream = None

    def stop(self) -> None:
        stop_process(self.web)
        self.stop_stream()


@pytest.fixture
def servers(page_origin, celery_worker):
    origin, _ = page_origin
    running = None
    try:
        running = Servers(origin)
        yield running
    finally:
        if running is not None:
            running.stop()


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # synchronous all the same, on a connection of their own (Django keeps one per context),
    # closed here so that it does not outlive the test database.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


def _open_page(browser, servers, page_origin, live, subscriber_id):
    """The customer's page with the widget for `subscriber_id`, loaded and streaming."""
    origin, holder = page_origin
    holder["page"] = PAGE.format(
        api=f"http://{live.host}:{servers.web_port}",
        stream=f"http://{live.host}:{servers.stream_port}",
        subscriber_id=subscriber_id,
        digest=subscriber_hash(secret=live.tenant.inbox_secret, subscriber_id=subscriber_id),
    ).encode()
    page = browser.new_page(viewport={"width": 900, "height": 560})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(origin)
    inbox = page.locator("clarion-inbox")
    sync_api.expect(inbox.locator("li.empty")).to_have_count(1, timeout=10_000)
    sync_api.expect(inbox.locator(".badge")).to_be_hidden()
    # The stream is open and has given its starting id (a bare `id:`, no event).
    page.wait_for_function(
        "() => document.querySelector('clarion-inbox').source?.readyState === 1", timeout=10_000
    )
    return page, errors


def test_a_new_message_appears_live_and_reading_it_lowers_the_count(
    servers, page_origin, browser, live, live_api, unique
):
    # given: a subscriber with an in-app workflow, and the customer's page with the widget
    origin, holder = page_origin
    subscriber_id = f"shopper-{unique}"
    Subscriber.objects.create(subscriber_id=subscriber_id, first_name="Ada")
    event = make_workflow(
        unique,
        [{"channel": "in_app", "subject": "Order {{ payload.order_id }} shipped",
          "body": "Hi {{ subscriber.first_name }}, it is on its way."}],
    )  # fmt: skip
    page, errors = _open_page(browser, servers, page_origin, live, subscriber_id)
    inbox = page.locator("clarion-inbox")
    badge = inbox.locator(".badge")

    # when: a trigger
    triggered = time.time()
    response = live_api.post(
        "/api/v1/events/trigger",
        {"event": event, "to": [subscriber_id], "payload": {"order_id": "B-7"}},
    )
    assert response.status_code == 202

    # then: the message shows in the bell's count and the list, without a reload
    sync_api.expect(badge).to_have_text("1", timeout=15_000)
    arrival = page.evaluate("window.arrivals[0]")
    stored = InboxMessage.objects.get(subscriber__subscriber_id=subscriber_id)
    assert arrival["id"] == stored.pk
    shown_after_send = arrival["at"] / 1000 - stored.created_at.timestamp()
    assert shown_after_send < 1.0, f"shown {shown_after_send:.2f} s after the send"
    assert arrival["at"] / 1000 - triggered < 10
    inbox.locator(".bell").click()
    item = inbox.locator("li.unread")
    sync_api.expect(item).to_have_count(1)
    sync_api.expect(item.locator(".title")).to_have_text("Order B-7 shipped")
    sync_api.expect(item.locator(".body")).to_have_text("Hi Ada, it is on its way.")
    page.screenshot(path=str(ARTIFACTS / "inbox-new-message.png"))

    # when: it is marked read in the widget
    item.locator(".mark-read").click()

    # then: the count drops to nothing, the item shows read, and the database agrees
    sync_api.expect(badge).to_be_hidden(timeout=5_000)
    sync_api.expect(inbox.locator("li.read")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "inbox-marked-read.png"))
    stored.refresh_from_db()
    assert stored.read_at is not None

    # when: two more arrive and "Mark all read" is pressed
    for order in ("B-8", "B-9"):
        live_api.post(
            "/api/v1/events/trigger",
            {"event": event, "to": [subscriber_id], "payload": {"order_id": order}},
        )
    sync_api.expect(badge).to_have_text("2", timeout=15_000)
    sync_api.expect(inbox.locator("li.unread")).to_have_count(2)
    page.screenshot(path=str(ARTIFACTS / "inbox-two-unread.png"))
    inbox.locator(".read-all").click()

    # then
    sync_api.expect(badge).to_be_hidden(timeout=5_000)
    sync_api.expect(inbox.locator("li.read")).to_have_count(3)
    wait_until(
        lambda: (
            not InboxMessage.objects.filter(
                subscriber__subscriber_id=subscriber_id, read_at__isnull=True
            ).exists()
        ),
        timeout=5,
    )
    page.screenshot(path=str(ARTIFACTS / "inbox-all-read.png"))
    assert errors == []


def test_a_message_sent_while_the_stream_was_down_arrives_when_it_is_back(
    servers, page_origin, browser, live, live_api, unique
):
    # given: the widget streaming, then the stream process gone
    subscriber_id = f"away-{unique}"
    Subscriber.objects.create(subscriber_id=subscriber_id, first_name="Grace")
    event = make_workflow(
        unique, [{"channel": "in_app", "subject": "While away {{ payload.n }}", "body": "Hello"}]
    )
    page, errors = _open_page(browser, servers, page_origin, live, subscriber_id)
    inbox = page.locator("clarion-inbox")
    servers.stop_stream()
    page.wait_for_function(
        "() => document.querySelector('clarion-inbox').source?.readyState !== 1", timeout=10_000
    )

    # when: a message is sent meanwhile, and the stream comes back on its port
    response = live_api.post(
        "/api/v1/events/trigger", {"event": event, "to": [subscriber_id], "payload": {"n": 1}}
    )
    assert response.status_code == 202, response.content
    wait_until(
        lambda: InboxMessage.objects.filter(subscriber__subscriber_id=subscriber_id).exists(),
        timeout=15,
    )
    servers.start_stream()

    # then: the widget reconnects from its last event id and shows it, once
    sync_api.expect(inbox.locator(".badge")).to_have_text("1", timeout=20_000)
    inbox.locator(".bell").click()
    sync_api.expect(inbox.locator("li.unread .title")).to_have_text(["While away 1"])
    page.screenshot(path=str(ARTIFACTS / "inbox-after-reconnect.png"))
    assert errors == []
