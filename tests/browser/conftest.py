"""Browser tests: Debian's Chromium driven by Playwright against a live Clarion server.

The server is Django's live-server thread (`LiveServerThread`, the one pytest-django and
LiveServerTestCase use) on 127.0.0.1 with a free port, reached under a tenant host name
(`browser.localhost:<port>`: Chromium resolves `*.localhost` to loopback, and the
host-resolver rule says so explicitly). The tenant `browser` is committed once per session
so the pages, the test body and real workers see the same rows; each step's screenshot is
saved under `.data/artifacts/browser/<test>/` (git-ignored).

Skipped, with the reason, when /usr/bin/chromium or the playwright package is missing;
`playwright install` is never needed: the system Chromium is launched.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test.testcases import LiveServerThread, _StaticFilesHandler
from django_tenants.utils import schema_context

from tenants.services import tenant_admin_create, tenant_create
from tests.conftest import BASE_DIR, TenantCtx

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = BASE_DIR / ".data" / "artifacts" / "browser"
VIEWPORT = {"width": 1280, "height": 900}
PASSWORD = "browser-admin-pass-1"

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None


def pytest_collection_modifyitems(config, items):
    reason = None
    if sync_playwright is None:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    elif not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


class _Handler(_StaticFilesHandler):
    """The app and its static files; each request's database connection closed after it, so
    a browser's keep-alive connection holds none open when the test database is dropped."""

    def __call__(self, environ, start_response):
        try:
            return super().__call__(environ, start_response)
        finally:
            connections.close_all()


@dataclass
class LiveSite:
    tenant: TenantCtx
    port: int
    admin_email: str

    @property
    def url(self) -> str:
        return f"http://{self.tenant.host}:{self.port}"


@pytest.fixture(scope="session")
def browser_tenant(test_tenants, django_db_blocker) -> TenantCtx:
    """A tenant of the browser tests' own, committed: its dashboard counts only their rows."""
    with django_db_blocker.unblock():
        tenant, key = tenant_create(slug="browser", name="Browser", domain="browser.localhost")
        connection.set_schema_to_public()
    return TenantCtx(tenant=tenant, key=key, host="browser.localhost")


@pytest.fixture(scope="session")
def live_site(browser_tenant, django_db_blocker):
    """The web app on 127.0.0.1:<free port>, in a thread of this process."""
    email = f"ops-{uuid.uuid4().hex[:6]}@browser.test"
    with django_db_blocker.unblock():
        tenant_admin_create(tenant=browser_tenant.tenant, email=email, password=PASSWORD)
        connection.set_schema_to_public()
    thread = LiveServerThread("127.0.0.1", _Handler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait(30)
    if thread.error:
        raise thread.error
    yield LiveSite(tenant=browser_tenant, port=thread.port, admin_email=email)
    thread.terminate()
    thread.join(10)


@pytest.fixture
def in_browser_tenant(live_site, django_db_blocker):
    """Committed database access in the `browser` tenant for the test body (and the server
    thread, which the database blocker would otherwise refuse too)."""
    with django_db_blocker.unblock():
        with schema_context(live_site.tenant.schema):
            yield live_site
        connection.set_schema_to_public()
        # Playwright's greenlets give the test body a context of its own, and with it its
        # own database connection, which nothing else would close.
        connections.close_all()


@pytest.fixture
def chromium(live_site):
    """Chromium for one test. Playwright runs only while a browser test does: its greenlets
    give the code after it a context of its own, and with it database connections that the
    session's teardown would not see (and so could not close before dropping the database)."""
    # Playwright's sync API keeps an event loop running in this thread, which Django takes
    # for an async context and refuses the ORM in; the test bodies are plain sync code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _chromium()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--no-proxy-server",
                "--host-resolver-rules=MAP *.localhost 127.0.0.1",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


class Steps:
    """Saves a full-page screenshot per step: `.data/artifacts/browser/<test>/NN-<name>.png`."""

    def __init__(self, page, folder: Path):
        self.page = page
        self.folder = folder
        self.count = 0
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)

    def shot(self, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(chromium, in_browser_tenant, request):
    """A fresh browser context at 1280×900; failed responses and page errors are collected
    on `page.problems` (a 404 for a favicon or a script is a bug)."""
    context = chromium.new_context(viewport=VIEWPORT, base_url=in_browser_tenant.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda response: (
            page.problems.append(f"{response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.steps = Steps(page, ARTIFACTS / request.node.name)
    yield page
    try:
        page.steps.shot("end")
    finally:
        context.close()


@pytest.fixture
def logged_in(page, in_browser_tenant):
    """The page, logged in to the tenant admin through its login form."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", in_browser_tenant.admin_email)
    page.fill("#id_password", PASSWORD)
    page.steps.shot("login")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return page
