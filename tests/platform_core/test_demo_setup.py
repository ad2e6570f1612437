"""`make demo`'s set-up (`manage.py demo_setup`, run at every start): the same API key each
time, and the sample configuration restored. Committed data in this suite's database."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context

from notifications.models import Integration, Route, Template, Workflow
from notifications.services.config import workflow_replace
from tenants.models import Tenant
from tests.conftest import ApiClient

DEMO_HOST = "demo.localhost"


@pytest.fixture
def demo_setup(test_tenants, django_db_blocker, tmp_path, monkeypatch):
    """Runs demo_setup as `make demo` does (its data folder in tmp_path); returns the key."""
    monkeypatch.setenv("CLARION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DEMO_SMTP_PORT", "2525")
    with django_db_blocker.unblock():
        had_admin = get_user_model().objects.filter(username="admin").exists()

        def run(**env: str) -> str:
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            out = io.StringIO()
            call_command("demo_setup", stdout=out)
            connection.set_schema_to_public()
            return re.search(r"export CLARION_KEY=(\S+)", out.getvalue())[1]

        yield run
        connection.set_schema_to_public()
        for tenant in Tenant.objects.filter(slug="demo"):
            tenant.delete(force_drop=True)
        if not had_admin:
            get_user_model().objects.filter(username="admin").delete()


def _status(key: str) -> int:
    return ApiClient(DEMO_HOST, key).get("/api/v1/tenant").status_code


def test_the_demo_key_is_the_same_at_every_start_and_works(demo_setup, tmp_path):
    # when: two starts
    first = demo_setup()
    second = demo_setup()

    # then: one key, shown both times, that the API accepts
    assert first == second
    assert _status(second) == 200
    key_file = tmp_path / "data" / "demo-api-key"
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o077 == 0


def test_a_lost_or_revoked_demo_key_is_replaced_and_the_old_one_revoked(demo_setup, tmp_path):
    # given: a start, then its key file lost (say, copied from another checkout)
    first = demo_setup()
    (tmp_path / "data" / "demo-api-key").write_text("ck_someone.else\n")

    # when
    second = demo_setup()

    # then: a new key works, the previous one no longer does
    assert second != first
    assert _status(second) == 200
    assert _status(first) == 401


def test_a_restart_restores_the_sample_configuration(demo_setup):
    # given: a start, then the samples changed (and something of the user's own added)
    demo_setup()
    schema = Tenant.objects.get(slug="demo").schema_name
    with schema_context(schema):
        Template.objects.filter(key="order-shipped-inbox").update(body="Changed {{ payload.x }}")
        Template.objects.get(key="order-shipped-email").variants.filter(name="b").delete()
        workflow = Workflow.objects.get(key="order-shipped")
        workflow_replace(
            workflow=workflow,
            name="Mine",
            steps=[{"type": "send", "channel": "in_app", "template": "order-shipped-inbox"}],
        )
        Route.objects.filter(event="order.shipped").update(active=False, priority="low")
        Integration.objects.filter(name="Demo mail sink").update(
            settings={"host": "127.0.0.1", "port": 1, "use_tls": False,
                      "from_email": "x@demo.localhost"},
            active=False,
        )  # fmt: skip
        Template.objects.create(key="my-own", channel="in_app", body="Mine")

    # when: the demo starts again, with another mail sink port
    demo_setup(DEMO_SMTP_PORT="2626")

    # then: every sample is as shipped, pointed at the new port; the user's own row stays
    with schema_context(schema):
        inbox = Template.objects.get(key="order-shipped-inbox")
        assert inbox.body == "Hi {{ subscriber.first_name }}, your order is on its way."
        email = Template.objects.get(key="order-shipped-email")
        assert sorted(email.variants.values_list("name", flat=True)) == ["a", "b"]
        workflow = Workflow.objects.get(key="order-shipped")
        assert workflow.name == "Order shipped"
        assert [(s.type, s.channel, s.seconds) for s in workflow.steps.order_by("position")] == [
            ("send", "in_app", None),
            ("delay", "", 60),
            ("send", "email", None),
            ("send", "sms", None),
        ]
        route = Route.objects.get(event="order.shipped")
        assert (route.active, route.priority) == (True, "normal")
        sink = Integration.objects.get(name="Demo mail sink")
        assert sink.active and sink.primary and sink.settings["port"] == 2626
        assert Template.objects.filter(key="my-own").exists()
