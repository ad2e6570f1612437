"""The admin's workflow versions: the list on the workflow page, the diff between two, the
rollout controls; event schemas and routes bound to an event version."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from notifications.models import EventSchema, Route, Workflow
from notifications.services.config import (
    template_create,
    workflow_create,
    workflow_version_create,
)
from tenants.services import tenant_admin_create
from tests.conftest import admin_login

PASSWORD = "acme-admin-pass-1"
ADMIN = "/admin/notifications"


@pytest.fixture
def client(acme):
    tenant_admin_create(tenant=acme.tenant, email="ops@acme.test", password=PASSWORD)
    client = admin_login(acme.host, "ops@acme.test", PASSWORD)
    assert client is not None
    return client


@pytest.fixture
def workflow(acme):
    with schema_context(acme.schema):
        template_create(key="first-inbox", channel="in_app", locale="en", body="Hi")
        template_create(key="second-inbox", channel="in_app", locale="en", body="Hello")
        workflow = workflow_create(
            key="ship",
            name="Ship",
            steps=[{"type": "send", "channel": "in_app", "template": "first-inbox"}],
        )
        workflow_version_create(
            workflow=workflow,
            steps=[
                {"type": "delay", "seconds": 60},
                {"type": "send", "channel": "in_app", "template": "second-inbox"},
            ],
        )
        return workflow


def test_the_workflow_page_lists_its_versions(client, workflow):
    response = client.get(f"{ADMIN}/workflow/{workflow.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "v1</td><td>live" in page
    assert "v2</td><td></td>" in page
    assert f"{ADMIN}/workflow/{workflow.pk}/versions/diff/?a=1&amp;b=2" in page
    assert f"{ADMIN}/workflow/{workflow.pk}/versions/rollout/" in page


def test_the_diff_page_shows_what_changed_between_two_versions(client, workflow):
    response = client.get(f"{ADMIN}/workflow/{workflow.pk}/versions/diff/?a=1&b=2")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="diff"' in page
    # the added delay step is marked as added, the changed template as changed
    assert '<span class="diff_add">' in page and "seconds" in page
    assert '<span class="diff_chg">' in page and "inbox" in page
    assert '<th class="diff_next"><br /></th><th colspan="2" class="diff_header">v1</th>' in page


def test_the_diff_of_an_unknown_version_is_404(client, workflow):
    assert client.get(f"{ADMIN}/workflow/{workflow.pk}/versions/diff/?a=1&b=9").status_code == 404


def test_rollout_promote_and_rollback_from_the_admin(client, acme, workflow):
    url = f"{ADMIN}/workflow/{workflow.pk}/versions/rollout/"
    assert client.get(url).status_code == 200

    response = client.post(url, {"action": "rollout", "version": "2", "percent": "25"})
    assert response.status_code == 302
    with schema_context(acme.schema):
        shown = Workflow.objects.get(pk=workflow.pk)
        assert (shown.version, shown.rollout_version, float(shown.rollout_percent)) == (1, 2, 25)

    assert client.post(url, {"action": "promote"}).status_code == 302
    with schema_context(acme.schema):
        shown = Workflow.objects.get(pk=workflow.pk)
        assert (shown.version, shown.rollout_version) == (2, None)
        assert [s.template_key for s in shown.steps.order_by("position")] == ["", "second-inbox"]

    assert client.post(url, {"action": "rollback", "version": "1"}).status_code == 302
    with schema_context(acme.schema):
        assert Workflow.objects.get(pk=workflow.pk).version == 1


def test_a_refused_rollout_is_shown_on_the_form(client, acme, workflow):
    url = f"{ADMIN}/workflow/{workflow.pk}/versions/rollout/"

    live = client.post(url, {"action": "rollout", "version": "1", "percent": "10"})
    nothing = client.post(url, {"action": "promote"})
    bad = client.post(url, {"action": "rollout", "version": "2", "percent": "101"})

    assert live.status_code == nothing.status_code == bad.status_code == 200
    assert "is live already" in live.content.decode()
    assert "no rollout to promote" in nothing.content.decode()
    assert "percent" in bad.context["form"].errors
    with schema_context(acme.schema):
        assert Workflow.objects.get(pk=workflow.pk).rollout_version is None


def test_a_change_of_steps_in_the_admin_is_a_new_live_version(client, acme, workflow):
    response = client.post(
        f"{ADMIN}/workflow/{workflow.pk}/change/",
        {
            "name": "Ship",
            "critical": "on",
            "steps-TOTAL_FORMS": "0",
            "steps-INITIAL_FORMS": "0",
            "steps-MIN_NUM_FORMS": "0",
            "steps-MAX_NUM_FORMS": "1000",
        },
    )

    # a workflow needs a send step: refused, nothing changes
    assert response.status_code == 200
    with schema_context(acme.schema):
        assert Workflow.objects.get(pk=workflow.pk).versions.count() == 2


def test_an_event_schema_is_checked_and_saved_from_the_admin(client, acme):
    bad = client.post(
        f"{ADMIN}/eventschema/add/",
        {"event": "order.shipped", "version": "1", "schema": '{"type": "nonsense"}'},
    )
    good = client.post(
        f"{ADMIN}/eventschema/add/",
        {"event": "order.shipped", "version": "1", "schema": '{"type": "object"}'},
    )

    assert bad.status_code == 200
    assert "Not a valid JSON Schema 2020-12" in bad.content.decode()
    assert good.status_code == 302
    with schema_context(acme.schema):
        assert EventSchema.objects.get(event="order.shipped", version=1).schema == {
            "type": "object"
        }


def test_a_route_is_bound_to_an_event_version_from_the_admin(client, acme, workflow):
    response = client.post(
        f"{ADMIN}/route/add/",
        {
            "event": "order.shipped",
            "event_version": "2",
            "workflow": str(workflow.pk),
            "priority": "normal",
            "active": "on",
            "max_attempts": "5",
        },
    )

    assert response.status_code == 302
    with schema_context(acme.schema):
        assert Route.objects.get(event="order.shipped").event_version == 2
