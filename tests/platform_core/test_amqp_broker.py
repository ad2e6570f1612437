"""RabbitMQ as the Celery broker: the pipeline's core cases, readiness and queue statistics
with `CELERY_BROKER_URL=amqp://…` (skipped where no RabbitMQ runs).

The module runs on a virtual host of its own (created with `rabbitmqctl`, deleted after), so
other test runs on the same RabbitMQ never share its queues; `CLARION_TEST_AMQP_BROKER_URL`
names one instead where `rabbitmqctl` is not at hand. The suite's core pipeline tests are
collected again here, with this module's workers and the test process publishing to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from kombu import Connection

from notifications.models import InboxMessage, Notification
from notifications.pipeline.sweeper import tenant_sweep
from tests.conftest import SUITE_QUEUES, start_worker, stop_process, wait_for_worker, worker_env
from tests.notifications.pipeline_helpers import low_queue_worker, make_workflow, wait_until
from tests.notifications.test_failure_paths import WORKER_SETTINGS as FAILURE_WORKER_SETTINGS
from tests.notifications.test_failure_paths import (  # noqa: F401 - collected here again
    test_backoff_grows_exponentially_and_its_jitter_stays_within_bounds,
)
from tests.notifications.test_pipeline import (  # noqa: F401 - collected here again
    fast_sweeps,
    test_critical_events_do_not_wait_behind_a_low_priority_backlog,
    test_topic_fan_out_arrives_once_per_subscriber_per_channel,
    test_transient_failure_is_retried_then_sent,
)
from tests.platform_core.bus_helpers import amqp_url

pytestmark = pytest.mark.worker


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def amqp_broker_url():
    """The URL of a virtual host of this module's own on the test RabbitMQ."""
    given = os.environ.get("CLARION_TEST_AMQP_BROKER_URL")
    if given:
        yield given
        return
    base = urlsplit(amqp_url())
    if shutil.which("rabbitmqctl") is None:
        pytest.skip(
            "rabbitmqctl is not available to create a virtual host; set "
            "CLARION_TEST_AMQP_BROKER_URL to a virtual host of the tests' own"
        )
    vhost = f"clarion-test-{uuid.uuid4().hex[:10]}"
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, base.username or "guest", ".*", ".*", ".*")
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not create a RabbitMQ virtual host with rabbitmqctl: {exc}")
    try:
        yield base._replace(path=f"/{vhost}").geturl()
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _use_broker(url: str, transport_options: dict) -> None:
    """Point this process's Celery app (publishes, control) at `url`."""
    from platform_core.celery import app

    app.conf.broker_url = url
    # Celery reads CELERY_BROKER_URL from the environment before its configuration; worker
    # processes started meanwhile inherit it (worker_env()).
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_transport_options = transport_options
    # Pools are per URL (kombu's global pools): drop this app's references, close nothing.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(scope="module")
def amqp_broker(amqp_broker_url):
    """This process and every worker and consumer it starts use the AMQP broker."""
    from platform_core.celery import app

    saved = {
        "url": app.conf.broker_url,
        "options": app.conf.broker_transport_options,
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "CELERY_BROKER_TRANSPORT_OPTIONS": django_settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        "env": os.environ.get("CELERY_BROKER_URL"),
    }
    options = {"confirm_publish": True, "read_timeout": 10, "write_timeout": 10}
    _use_broker(amqp_broker_url, options)
    django_settings.CELERY_BROKER_URL = amqp_broker_url
    django_settings.CELERY_BROKER_TRANSPORT_OPTIONS = options
    try:
        yield amqp_broker_url
    finally:
        _use_broker(saved["url"], saved["options"])
        django_settings.CELERY_BROKER_URL = saved["CELERY_BROKER_URL"]
        django_settings.CELERY_BROKER_TRANSPORT_OPTIONS = saved["CELERY_BROKER_TRANSPORT_OPTIONS"]
        if saved["env"] is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved["env"]


@pytest.fixture(scope="module")
def celery_worker(test_tenants, django_db_blocker, amqp_broker):
    """This module's stand-in for the suite's worker: every queue but `low`, on RabbitMQ."""
    name = f"amqp-suite-{uuid.uuid4().hex[:6]}"
    with django_db_blocker.unblock():
        proc = start_worker(SUITE_QUEUES, name, env=worker_env())
        try:
            wait_for_worker(name)
        except RuntimeError:
            stop_process(proc)
            raise
        yield proc
        stop_process(proc)


@pytest.fixture
def failure_worker(celery_worker):
    """The failure-path tests' worker on `low`, stopped after each test here: the priority
    test needs `low` left undrained."""
    with low_queue_worker(
        f"amqp-failpaths-{uuid.uuid4().hex[:6]}", concurrency=1, **FAILURE_WORKER_SETTINGS
    ) as proc:
        yield proc


def test_the_settings_choose_rabbitmq_from_the_broker_url(amqp_broker_url):
    env = {**os.environ, "CELERY_BROKER_URL": amqp_broker_url}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; import django; django.setup(); "
            "from platform_core.celery import app; "
            "print(settings.CELERY_BROKER_IS_AMQP, app.connection_for_write().transport_cls, "
            "settings.CELERY_BROKER_TRANSPORT_OPTIONS)",
        ],
        env={**env, "DJANGO_SETTINGS_MODULE": "platform_core.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.split()[0:2] == ["True", "amqp"]
    assert "confirm_publish" in out.stdout


def test_readyz_and_queue_stats_read_each_queue_depth_from_rabbitmq(
    amqp_broker, live, live_api, unique, settings
):
    # given: three events waiting on `low` as a message each, which no worker of this
    # module consumes
    settings.CLARION_DISPATCH_GATHER_MS = 0
    event = make_workflow(unique, [{"channel": "in_app"}], priority="low")
    with Connection(amqp_broker) as conn, conn.channel() as channel:
        channel.queue_purge("low") if _exists(conn, "low") else None
    for n in range(3):
        assert (
            live_api.post(
                "/api/v1/events/trigger", {"event": event, "to": [f"q-{unique}-{n}"]}
            ).status_code
            == 202
        )

    # when
    ready = Client(HTTP_HOST="localhost").get("/readyz")
    stats = live_api.get("/api/v1/queues/stats")

    # then: both report the queue's depth as RabbitMQ counts it
    assert ready.status_code == 200, ready.json()
    broker = ready.json()["checks"]["broker"]
    assert broker["status"] == "ok"
    assert broker["queue_backlog"]["low"] == 3
    assert set(broker["queue_backlog"]) == set(django_settings.CELERY_QUEUE_NAMES)
    assert stats.status_code == 200
    assert stats.json()["low"]["broker_backlog"] == 3
    with Connection(amqp_broker) as conn, conn.channel() as channel:
        channel.queue_purge("low")


def _exists(conn: Connection, name: str) -> bool:
    try:
        with conn.channel() as channel:
            channel.queue_declare(queue=name, passive=True)
        return True
    except conn.channel_errors:
        return False


@pytest.mark.usefixtures("fast_sweeps")
def test_while_rabbitmq_is_down_readyz_is_503_a_trigger_still_202_and_the_sweeper_recovers_it(
    celery_worker, amqp_broker, live, live_api, unique, caplog
):
    # given: the broker URL pointing at a port nothing listens on
    from platform_core.celery import app

    parts = urlsplit(amqp_broker)
    down = parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:9").geturl()
    event = make_workflow(unique, [{"channel": "in_app", "body": "Order {{ payload.order_id }}"}])
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    _use_broker(down, saved[1])
    django_settings.CELERY_BROKER_URL = down
    try:
        # when
        ready = Client(HTTP_HOST="localhost").get("/readyz")
        started = time.monotonic()
        with caplog.at_level("WARNING", logger="platform_core.taskbase"):
            response = live_api.post(
                "/api/v1/events/trigger",
                {"event": event, "to": [f"down-{unique}"], "payload": {"order_id": "D-1"}},
            )
            took = time.monotonic() - started
            # the gathered publish is attempted a few milliseconds after the response
            wait_until(
                lambda: any(r.name == "platform_core.taskbase" for r in caplog.records),
                timeout=15,
                interval=0.05,
                what="the lost publish logged",
            )
    finally:
        _use_broker(*saved)
        django_settings.CELERY_BROKER_URL = amqp_broker

    # then: not ready, naming the broker; the event is stored and its lost publish logged
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"]["status"] == "down"
    assert ready.json()["checks"]["redis"]["status"] == "ok"
    assert response.status_code == 202, response.json()
    assert took < 10, f"the trigger waited {took:.1f}s on the dead broker"
    notification = Notification.objects.get(pk=response.json()["notification_id"])
    assert notification.status == "accepted"
    [record] = [r for r in caplog.records if r.name == "platform_core.taskbase"]
    assert record.task == "notifications.notifications_process"
    assert record.tenant == live.schema

    # when: the broker is back and the sweeper runs (in this process, as beat would ask)
    def swept():
        tenant_sweep()
        return InboxMessage.objects.filter(delivery__notification_id=notification.pk).exists()

    # then: the event is re-dispatched through RabbitMQ and its message arrives, once
    wait_until(swept, timeout=30, interval=0.5, what="the event re-dispatched and processed")
    messages = InboxMessage.objects.filter(delivery__notification_id=notification.pk)
    assert [m.body for m in messages] == ["Order D-1"]
