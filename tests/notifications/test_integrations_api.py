"""Integrations API: provider accounts per channel, credentials write-only and encrypted."""

import base64
import json

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from notifications.models import Integration
from notifications.pipeline.sending.providers import integrations_in_failover_order
from tests.conftest import ApiClient
from tests.factories import IntegrationFactory

PASSWORD = "pa55-Very-Secret-Word"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def smtp(**overrides):
    body = {
        "channel": "email",
        "provider": "smtp",
        "name": "Mail relay",
        "settings": {
            "host": "smtp.example.com",
            "port": 587,
            "use_tls": True,
            "from_email": "Acme <no-reply@acme.example>",
        },
        "credentials": {"username": "acme", "password": PASSWORD},
    }
    body.update(overrides)
    return body


def console(**overrides):
    return {"channel": "sms", "provider": "console", "name": "Console", **overrides}


def webhook(**overrides):
    body = {
        "channel": "chat",
        "provider": "webhook",
        "name": "Ops webhook",
        "settings": {"url": "https://hooks.example.com/clarion"},
        "credentials": {"secret": WEBHOOK_SECRET},
    }
    body.update(overrides)
    return body


def error_of(response, status, code="validation_error"):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    return error


def assert_no_credentials(response):
    """Neither the secret nor any credentials field, masked or not, is in a response."""
    text = response.content.decode()
    assert PASSWORD not in text
    assert WEBHOOK_SECRET not in text
    assert WEBHOOK_SECRET.removeprefix("whsec_") not in text
    body = response.json()
    for item in body.get("results", [body]):
        assert "credentials" not in item
        assert "credentials_encrypted" not in item


def stored(acme, integration_id):
    with schema_context(acme.schema):
        return Integration.objects.get(pk=integration_id)


def test_create_returns_the_integration_without_credentials(acme_api):
    # when
    response = acme_api.post("/api/v1/integrations", smtp())
    # then
    assert response.status_code == 201
    body = response.json()
    assert isinstance(body["id"], int)
    assert {k: v for k, v in body.items() if k not in ("id", "created_at", "updated_at")} == {
        "channel": "email",
        "provider": "smtp",
        "name": "Mail relay",
        "settings": smtp()["settings"],
        "has_credentials": True,
        "webhook_url": None,
        "primary": True,
        "active": True,
    }
    assert_no_credentials(response)


def test_defaults(acme_api):
    response = acme_api.post("/api/v1/integrations", console())

    assert response.status_code == 201
    body = response.json()
    assert (body["settings"], body["has_credentials"], body["primary"], body["active"]) == (
        {},
        False,
        True,
        True,
    )


def test_credentials_are_encrypted_at_rest(acme, acme_api):
    integration_id = acme_api.post("/api/v1/integrations", smtp()).json()["id"]

    with schema_context(acme.schema), connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials_encrypted, settings::text FROM notifications_integration "
            "WHERE id = %s",
            [integration_id],
        )
        raw, raw_settings = cursor.fetchone()
    assert raw
    assert PASSWORD not in raw
    assert base64.b64encode(PASSWORD.encode()).decode() not in raw
    assert PASSWORD not in raw_settings
    assert stored(acme, integration_id).credentials == {"username": "acme", "password": PASSWORD}


def test_credentials_are_never_returned(acme_api):
    integration_id = acme_api.post("/api/v1/integrations", smtp()).json()["id"]
    hook_id = acme_api.post("/api/v1/integrations", webhook()).json()["id"]

    responses = [
        acme_api.get(f"/api/v1/integrations/{integration_id}"),
        acme_api.get(f"/api/v1/integrations/{hook_id}"),
        acme_api.get("/api/v1/integrations"),
        acme_api.get("/api/v1/integrations?channel=chat"),
        acme_api.patch(f"/api/v1/integrations/{integration_id}", {"name": "Renamed"}),
        acme_api.patch(
            f"/api/v1/integrations/{hook_id}", {"credentials": webhook()["credentials"]}
        ),
        acme_api.put(f"/api/v1/integrations/{integration_id}", smtp()),
    ]

    for response in responses:
        assert response.status_code == 200, response.content
        assert_no_credentials(response)
    assert len(responses[2].json()["results"]) == 2
    assert responses[0].json()["has_credentials"] is True


def test_list_and_filter_by_channel(acme_api):
    mail = acme_api.post("/api/v1/integrations", smtp()).json()["id"]
    sms = acme_api.post("/api/v1/integrations", console()).json()["id"]

    listed = acme_api.get("/api/v1/integrations").json()
    only_sms = acme_api.get("/api/v1/integrations?channel=sms").json()["results"]

    assert [i["id"] for i in listed["results"]] == [mail, sms]
    assert listed["next"] is None
    assert [i["id"] for i in only_sms] == [sms]


def test_unknown_provider_lists_the_valid_ones(acme_api):
    error = error_of(acme_api.post("/api/v1/integrations", console(provider="carrier-pigeon")), 400)

    assert list(error["fields"]) == ["provider"]
    message = error["fields"]["provider"][0]
    assert "console" in message and "twilio" in message
    assert "smtp" not in message


def test_email_providers_are_listed_with_the_anymail_form(acme_api):
    error = error_of(acme_api.post("/api/v1/integrations", smtp(provider="pigeon")), 400)

    message = error["fields"]["provider"][0]
    assert "smtp" in message and "anymail:<esp>" in message


@pytest.mark.parametrize("provider", ["anymail", "anymail:no-such-esp"])
def test_anymail_needs_a_known_esp(acme_api, provider):
    error = error_of(acme_api.post("/api/v1/integrations", smtp(provider=provider)), 400)

    assert list(error["fields"]) == ["provider"]


def test_an_anymail_esp_is_validated_by_its_connector(acme, acme_api):
    body = smtp(
        provider="anymail:postmark",
        settings={"from_email": "no-reply@acme.example"},
        credentials={},
    )

    missing = acme_api.post("/api/v1/integrations", body)
    created = acme_api.post(
        "/api/v1/integrations", {**body, "credentials": {"server_token": PASSWORD}}
    )

    assert set(error_of(missing, 400)["fields"]) == {"credentials.server_token"}
    assert created.status_code == 201, created.content
    assert created.json()["provider"] == "anymail:postmark"
    assert_no_credentials(created)
    assert stored(acme, created.json()["id"]).credentials == {"server_token": PASSWORD}


def test_a_provider_of_another_channel_is_refused(acme_api):
    error = error_of(acme_api.post("/api/v1/integrations", smtp(channel="sms")), 400)

    assert list(error["fields"]) == ["provider"]


def test_in_app_needs_no_integration(acme_api):
    error = error_of(acme_api.post("/api/v1/integrations", console(channel="in_app")), 400)

    assert error["fields"] == {"channel": ["in_app is built in; it needs no integration."]}


@pytest.mark.parametrize(
    "body, fields",
    [
        (smtp(settings={"port": 587, "from_email": "x@acme.example"}), {"settings.host"}),
        (smtp(settings={**smtp()["settings"], "port": 70000}), {"settings.port"}),
        (smtp(settings={**smtp()["settings"], "from_email": "nope"}), {"settings.from_email"}),
        (smtp(credentials={"username": "acme"}), {"credentials.password"}),
        (webhook(credentials={}), {"credentials.secret"}),
        (webhook(credentials={"secret": "short"}), {"credentials.secret"}),
        (webhook(settings={"url": "ftp://x.example"}), {"settings.url"}),
        (
            webhook(settings={"url": "not a url"}, credentials={}),
            {"settings.url", "credentials.secret"},
        ),
    ],
)
def test_provider_validation_errors_name_settings_and_credentials(acme_api, body, fields):
    response = acme_api.post("/api/v1/integrations", body)

    error = error_of(response, 400)
    assert set(error["fields"]) == fields
    assert_no_credentials(response)
    assert acme_api.get("/api/v1/integrations").json()["results"] == []


@pytest.mark.parametrize(
    "body, field",
    [
        (console(colour="red"), "colour"),
        (console(channel="fax"), "channel"),
        (console(name=""), "name"),
        (console(settings=["x"]), "settings"),
        (console(credentials="secret"), "credentials"),
        (console(primary="yes please"), "primary"),
        ({"channel": "sms", "provider": "console"}, "name"),
        ({"channel": "sms", "name": "x"}, "provider"),
        ({"provider": "console", "name": "x"}, "channel"),
    ],
)
def test_malformed_bodies(acme_api, body, field):
    error = error_of(acme_api.post("/api/v1/integrations", body), 400)

    assert field in error["fields"]


def test_patch_without_credentials_keeps_them(acme, acme_api):
    integration_id = acme_api.post("/api/v1/integrations", webhook()).json()["id"]

    response = acme_api.patch(
        f"/api/v1/integrations/{integration_id}",
        {"name": "Renamed", "settings": {"url": "https://other.example.com/hook"}},
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["settings"] == {"url": "https://other.example.com/hook"}
    assert response.json()["has_credentials"] is True
    assert stored(acme, integration_id).credentials == {"secret": WEBHOOK_SECRET}


def test_patch_validates_the_merged_result(acme, acme_api):
    integration_id = acme_api.post("/api/v1/integrations", webhook()).json()["id"]
    before = acme_api.get(f"/api/v1/integrations/{integration_id}").json()

    no_secret = acme_api.patch(f"/api/v1/integrations/{integration_id}", {"credentials": {}})
    bad_url = acme_api.patch(
        f"/api/v1/integrations/{integration_id}", {"settings": {"url": "nope"}}
    )
    other_channel = acme_api.patch(f"/api/v1/integrations/{integration_id}", {"channel": "sms"})

    assert set(error_of(no_secret, 400)["fields"]) == {"credentials.secret"}
    assert set(error_of(bad_url, 400)["fields"]) == {"settings.url"}
    assert set(error_of(other_channel, 400)["fields"]) == {"provider"}
    assert acme_api.get(f"/api/v1/integrations/{integration_id}").json() == before
    assert stored(acme, integration_id).credentials == {"secret": WEBHOOK_SECRET}


def test_patch_can_replace_and_clear_credentials(acme, acme_api):
    integration_id = acme_api.post("/api/v1/integrations", smtp()).json()["id"]

    replaced = acme_api.patch(
        f"/api/v1/integrations/{integration_id}",
        {"credentials": {"username": "new", "password": "new-password"}},
    )
    assert replaced.json()["has_credentials"] is True
    assert stored(acme, integration_id).credentials == {
        "username": "new",
        "password": "new-password",
    }
    assert "new-password" not in replaced.content.decode()

    cleared = acme_api.patch(f"/api/v1/integrations/{integration_id}", {"credentials": {}})

    assert cleared.json()["has_credentials"] is False
    assert stored(acme, integration_id).credentials == {}


def test_put_replaces_fields_and_keeps_credentials_unless_given(acme, acme_api):
    integration_id = acme_api.post("/api/v1/integrations", smtp(active=False)).json()["id"]
    body = smtp(name="Relay 2", settings={**smtp()["settings"], "port": 2525})
    body.pop("credentials")

    response = acme_api.put(f"/api/v1/integrations/{integration_id}", body)

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["settings"]["port"]) == ("Relay 2", 2525)
    assert response.json()["active"] is True  # PUT sets every field; defaults apply
    assert stored(acme, integration_id).credentials["password"] == PASSWORD


def test_put_requires_the_whole_resource(acme_api):
    integration_id = acme_api.post("/api/v1/integrations", console()).json()["id"]

    error = error_of(acme_api.put(f"/api/v1/integrations/{integration_id}", {"name": "x"}), 400)

    assert set(error["fields"]) == {"channel", "provider"}


def test_a_new_primary_demotes_the_others_of_its_channel(acme, acme_api):
    first = acme_api.post("/api/v1/integrations", smtp(name="First")).json()["id"]
    sms = acme_api.post("/api/v1/integrations", console()).json()["id"]

    second = acme_api.post("/api/v1/integrations", smtp(name="Second")).json()["id"]

    assert acme_api.get(f"/api/v1/integrations/{first}").json()["primary"] is False
    assert acme_api.get(f"/api/v1/integrations/{second}").json()["primary"] is True
    assert acme_api.get(f"/api/v1/integrations/{sms}").json()["primary"] is True

    acme_api.patch(f"/api/v1/integrations/{first}", {"primary": True})

    assert acme_api.get(f"/api/v1/integrations/{first}").json()["primary"] is True
    assert acme_api.get(f"/api/v1/integrations/{second}").json()["primary"] is False


def test_a_non_primary_integration_leaves_the_primary_alone(acme_api):
    first = acme_api.post("/api/v1/integrations", smtp(name="First")).json()["id"]

    fallback = acme_api.post("/api/v1/integrations", smtp(name="Fallback", primary=False))

    assert fallback.json()["primary"] is False
    assert acme_api.get(f"/api/v1/integrations/{first}").json()["primary"] is True


def test_failover_order_is_primary_first_then_by_id(acme, acme_api):
    a = acme_api.post("/api/v1/integrations", console(name="a", primary=False)).json()["id"]
    b = acme_api.post("/api/v1/integrations", console(name="b", primary=False)).json()["id"]
    c = acme_api.post("/api/v1/integrations", console(name="c")).json()["id"]
    acme_api.post("/api/v1/integrations", console(name="off", primary=False, active=False))
    acme_api.post("/api/v1/integrations", smtp())

    with schema_context(acme.schema):
        order = [i.pk for i in integrations_in_failover_order(channel="sms")]

    assert order == [c, a, b]


def test_delete(acme_api):
    integration_id = acme_api.post("/api/v1/integrations", console()).json()["id"]

    response = acme_api.delete(f"/api/v1/integrations/{integration_id}")

    assert response.status_code == 204
    error_of(acme_api.get(f"/api/v1/integrations/{integration_id}"), 404, "not_found")
    error_of(acme_api.delete(f"/api/v1/integrations/{integration_id}"), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/integrations/999999", "/api/v1/integrations/abc"])
def test_unknown_integration_is_404(acme_api, path):
    error_of(acme_api.get(path), 404, "not_found")
    error_of(acme_api.patch(path, {"name": "x"}), 404, "not_found")


def test_integrations_are_invisible_to_other_tenants(acme, acme_api, globex, globex_api):
    integration_id = acme_api.post("/api/v1/integrations", smtp()).json()["id"]
    path = f"/api/v1/integrations/{integration_id}"
    with schema_context(globex.schema):
        # Make sure the same id is not simply free in globex by accident of numbering.
        assert not Integration.objects.filter(pk=integration_id).exists()

    for client in (globex_api, ApiClient("localhost", globex.key)):
        error_of(client.get(path), 404, "not_found")
        error_of(client.patch(path, {"primary": False}), 404, "not_found")
        error_of(client.put(path, smtp()), 404, "not_found")
        error_of(client.delete(path), 404, "not_found")
        assert client.get("/api/v1/integrations").json()["results"] == []
    assert acme_api.get(path).json()["primary"] is True


def test_factory_integrations_are_listed(in_acme, acme_api):
    integration = IntegrationFactory(credentials={"token": "abc"})

    response = acme_api.get(f"/api/v1/integrations/{integration.pk}")

    assert response.json()["has_credentials"] is True
    assert "abc" not in json.dumps(response.json())
