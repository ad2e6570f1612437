"""Hostile templates cost a 4xx and nothing more: on save through a real gunicorn, at send
through a real worker.

Saving runs a trial render within the render limits; each hostile template is refused with
a 400 within 2 s while the serving process's memory stays flat. At send, a template that goes
over the channel's output cap with real data dead-letters that delivery, naming the limit,
and the rest of the batch is sent.
"""

from __future__ import annotations

import threading
import time

import psutil
import pytest
from django_tenants.utils import schema_context

from notifications.models import Delivery, InboxMessage, Template
from tenants.services import tenant_admin_create
from tests.conftest import admin_login, worker_env
from tests.notifications.pipeline_helpers import make_workflow, statuses, wait_until
from tests.platform_core.test_outages import WebServer

MB = 1024 * 1024
NESTED = "{% set a = [a, a] %}"

HOSTILE = {
    # finding 1: 15 s and ~3 GB for one save
    "center": "{{ 'a'|center(999999999) }}",
    "format filter width": "{{ '%999999999s'|format('a') }}",
    "% with a * width": "{{ '%*s' % (999999999, 'a') }}",
    "% precision": "{{ '%.999999999f' % 1.5 }}",
    "str.format width": "{{ '{:>{w}}'.format('a', w=999999999) }}",
    "indent": "{{ ('a\n' * 50000)|indent(999) }}",
    "ljust": "{{ 'a'.ljust(999999999) }}",
    "allocation by doubling": "{% set a = 'x' * 100000 %}" + "{% set a = a ~ a %}" * 30,
    "a list printing itself 2**40 times": "{% set a = ['x' * 1000] %}" + NESTED * 40 + "{{ a }}",
    "join": "{{ (['x' * 100000] * 100000)|join }}",
    "huge output": "{% for a in 'x' * 100000 %}{{ 'y' * 1000 }}{% endfor %}",
    "long loops": "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}",
    "recursion through macros": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "macros calling themselves twice": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    ),
    "deep nesting": "{% if true %}" * 200 + "x" + "{% endif %}" * 200,
    "deep expressions": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
}


@pytest.fixture(scope="module")
def web(test_tenants, django_db_blocker):
    """gunicorn (one worker process) serving the test database, and that worker's pid."""
    with django_db_blocker.unblock():
        server = WebServer(worker_env(), "hostile-templates")
    try:
        children = psutil.Process(server.proc.pid).children()
        assert len(children) == 1
        server.worker = children[0]
        yield server
    finally:
        server.stop()


class PeakRss:
    """The highest resident memory of a process while the block runs (sampled every 5 ms)."""

    def __init__(self, process: psutil.Process):
        self.process = process
        self.peak = self.start = process.memory_info().rss
        self._done = threading.Event()

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


def save(web, live, method: str, key: str, body: str):
    path = "/api/v1/templates" if method == "POST" else f"/api/v1/templates/{key}"
    document = {"key": key, "channel": "in_app", "subject": "Hi", "body": body}
    return web.request(method, path, host=live.host, key=live.key, body=document)


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_template_is_refused_quickly_and_the_web_process_stays_small(
    web, live, unique, body, method
):
    key = f"hostile-{unique}"
    # given: the process has served a template save before (its imports and caches are warm)
    assert save(web, live, "POST", f"warm-{unique}", "Hi {{ payload.x }}")[0] == 201

    # when
    with PeakRss(web.worker) as rss:
        started = time.monotonic()
        status, _, document = save(web, live, method, key, body)
        elapsed = time.monotonic() - started

    # then
    assert status == 400, document
    assert document["error"]["code"] in ("template_over_limit", "validation_error")
    assert document["error"]["fields"]["body"]
    assert elapsed < 2
    assert rss.growth < 100 * MB
    assert not Template.objects.filter(key=key).exists()


def test_the_reason_names_the_limit_and_the_field(web, live, unique):
    status, _, document = save(web, live, "POST", f"center-{unique}", HOSTILE["center"])

    assert status == 400
    assert document["error"]["code"] == "template_over_limit"
    assert document["error"]["fields"] == {
        "body": [
            "Line 1: Over a render limit: center() width of 999,999,999 is over the limit of "
            "1,000 (RENDER_MAX_WIDTH)."
        ]
    }
    assert "body" in document["error"]["message"]


def test_the_admin_form_shows_the_limit_and_saves_nothing(acme):
    tenant_admin_create(tenant=acme.tenant, email="ops@acme.test", password="acme-admin-pass-1")
    client = admin_login(acme.host, "ops@acme.test", "acme-admin-pass-1")
    data = {
        "key": "order-shipped",
        "locale": "en",
        "channel": "sms",
        "subject": "",
        "body": "{{ 'a'|center(999999999) }}",
        "cta_url": "",
        "variants-TOTAL_FORMS": "0",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
    }

    response = client.post("/admin/notifications/template/add/", data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "RENDER_MAX_WIDTH" in errors["body"][0]
    with schema_context(acme.schema):
        assert not Template.objects.exists()


# --- at send, through a real worker -------------------------------------------------------------

# finding 2: a loop over a 200-item payload list rendered an 8 MB in-app message. Here it does
# so only for a subscriber who asks for everything; the others get a short message.
EVERYTHING = (
    "{% for a in payload.rows %}{% if subscriber.data.get('everything') %}"
    "{% for b in payload.rows %}{{ a }}{% endfor %}{% else %}.{% endif %}{% endfor %}"
)


def trigger(api, event: str, to: list, payload: dict) -> str:
    response = api.post("/api/v1/events/trigger", {"event": event, "to": to, "payload": payload})
    assert response.status_code == 202, response.content
    return response.json()["notification_id"]


def settled(notification_id, count: int) -> dict[str, int] | None:
    found = statuses(notification_id)
    done = sum(n for status, n in found.items() if status in ("sent", "dead"))
    return found if done == count else None


def test_a_message_over_the_cap_is_dead_with_the_limit_named_and_the_batch_goes_on(
    celery_worker, live, live_api, unique
):
    # given
    event = make_workflow(unique, [{"channel": "in_app", "subject": "Rows", "body": EVERYTHING}])
    greedy = {"subscriber_id": f"greedy-{unique}", "data": {"everything": True}}
    others = [f"plain-{unique}-{n}" for n in range(3)]
    payload = {"rows": ["r" * 200] * 200}

    # when
    notification_id = trigger(live_api, event, [greedy, *others], payload)

    # then
    assert wait_until(lambda: settled(notification_id, 4), timeout=60) == {"sent": 3, "dead": 1}
    dead = Delivery.objects.get(notification_id=notification_id, status="dead")
    assert dead.subscriber.subscriber_id == greedy["subscriber_id"]
    assert "RENDER_MAX_OUTPUT_IN_APP" in dead.last_error
    assert "16,384 characters" in dead.last_error
    assert dead.last_error_class == "RenderLimitError"
    bodies = InboxMessage.objects.filter(notification_id=notification_id).values_list(
        "body", flat=True
    )
    assert sorted(bodies) == ["." * 200] * 3


def test_an_inbox_page_stays_small_however_much_the_templates_would_write(
    celery_worker, live, live_api, unique
):
    # given: finding 2 again: 400 KB per message made one inbox page 18.9 MB
    event = make_workflow(
        unique,
        [
            {
                "channel": "in_app",
                "subject": "News",
                "body": "{% for r in payload.rows %}{{ r }}{% endfor %}",
            }
        ],
    )
    reader = f"reader-{unique}"
    big = [trigger(live_api, event, [reader], {"rows": ["w" * 2000] * 200}) for _ in range(5)]
    small = trigger(live_api, event, [reader], {"rows": ["short"]})

    # when
    for notification_id in [*big, small]:
        wait_until(lambda n=notification_id: settled(n, 1), timeout=60)
    response = live_api.get(f"/api/v1/inbox/{reader}/messages")

    # then
    assert response.status_code == 200
    assert [message["body"] for message in response.json()["results"]] == ["short"]
    assert len(response.content) < 50 * 16_384
    assert Delivery.objects.filter(notification_id__in=big, status="dead").count() == 5
