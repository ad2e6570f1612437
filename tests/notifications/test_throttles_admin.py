"""Throttles and integration rate limits in the tenant admin, through the API's services."""

from django.contrib.admin.models import LogEntry
from django_tenants.utils import schema_context

from notifications.models import Integration, Throttle
from tests.factories import WorkflowFactory
from tests.notifications.test_admin import (  # noqa: F401
    ADMIN,
    SMTP_ADD,
    client,
    form_errors,
    smtp_data,
)


def throttle_data(**overrides):
    data = {"key": "sms-3-per-hour", "limit": "3", "window_seconds": "3600", "channel": "sms",
            "workflow_key": ""}  # fmt: skip
    data.update(overrides)
    return data


def test_a_throttle_is_added_changed_and_logged(client, acme):  # noqa: F811
    with schema_context(acme.schema):
        WorkflowFactory(key="marketing")
    assert client.get(f"{ADMIN}/throttle/add/").status_code == 200

    added = client.post(f"{ADMIN}/throttle/add/", throttle_data())
    assert added.status_code == 302, form_errors(added)
    with schema_context(acme.schema):
        throttle = Throttle.objects.get(key="sms-3-per-hour")
    changed = client.post(
        f"{ADMIN}/throttle/{throttle.pk}/change/",
        throttle_data(limit="5", workflow_key="marketing", applies_to_critical="on"),
    )

    assert changed.status_code == 302, form_errors(changed)
    with schema_context(acme.schema):
        throttle.refresh_from_db()
        assert (throttle.key, throttle.limit, throttle.workflow_key) == (
            "sms-3-per-hour", 5, "marketing",
        )  # fmt: skip
        assert throttle.applies_to_critical
        assert LogEntry.objects.filter(object_id=str(throttle.pk)).count() == 2


def test_an_invalid_throttle_is_a_form_error_and_nothing_is_saved(client, acme):  # noqa: F811
    response = client.post(
        f"{ADMIN}/throttle/add/", throttle_data(key="has space", limit="0", window_seconds="")
    )
    assert {"key", "limit", "window_seconds"} <= set(form_errors(response))
    with schema_context(acme.schema):
        assert not Throttle.objects.exists()


def test_an_invalid_rate_limit_is_an_error_on_the_settings(client, acme):  # noqa: F811
    response = client.post(SMTP_ADD, smtp_data(rate_limit_per_second="0"))
    errors = form_errors(response)
    assert errors["rate_limit_per_second"]
    with schema_context(acme.schema):
        assert not Integration.objects.exists()
