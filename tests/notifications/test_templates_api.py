"""Templates API: per channel and locale, sandboxed Jinja2 validated on save, A/B variants."""

import pytest
from django_tenants.utils import schema_context

from notifications.models import Template
from tests.conftest import ApiClient
from tests.factories import TemplateFactory, WorkflowFactory, WorkflowStepFactory

BODY = "<p>Hi {{ subscriber.first_name }}, order {{ payload.order_id }} is on its way.</p>"


def email_template(**overrides):
    body = {
        "key": "order-shipped",
        "channel": "email",
        "subject": "Order {{ payload.order_id }} shipped",
        "body": BODY,
    }
    body.update(overrides)
    return body


def error_of(response, status, code="validation_error"):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    return error


def test_create_returns_the_template_with_defaults(acme_api):
    # when
    response = acme_api.post("/api/v1/templates", email_template())
    # then
    assert response.status_code == 201
    assert response.json() | {"created_at": None, "updated_at": None} == {
        "key": "order-shipped",
        "channel": "email",
        "locale": "en",
        "subject": "Order {{ payload.order_id }} shipped",
        "body": BODY,
        "format": "html",
        "cta_url": "",
        "variants": [],
        "warnings": [],
        "created_at": None,
        "updated_at": None,
    }
    assert acme_api.get("/api/v1/templates/order-shipped").json()["key"] == "order-shipped"


def test_get_list_and_pagination(acme_api):
    for key in ("a-template", "b-template", "c-template"):
        assert acme_api.post("/api/v1/templates", email_template(key=key)).status_code == 201

    first = acme_api.get("/api/v1/templates?limit=2").json()
    second = acme_api.get(first["next"]).json()

    assert [t["key"] for t in first["results"]] == ["a-template", "b-template"]
    assert [t["key"] for t in second["results"]] == ["c-template"]
    assert second["next"] is None


def test_list_filters(acme_api):
    acme_api.post("/api/v1/templates", email_template(key="mail"))
    acme_api.post("/api/v1/templates", {"key": "text", "channel": "sms", "body": "Hi"})
    acme_api.post("/api/v1/templates", email_template(key="mail", locale="fr"))

    by_channel = acme_api.get("/api/v1/templates?channel=sms").json()["results"]
    by_key = acme_api.get("/api/v1/templates?key=mail").json()["results"]

    assert [t["key"] for t in by_channel] == ["text"]
    assert [(t["key"], t["locale"]) for t in by_key] == [("mail", "en"), ("mail", "fr")]


def test_in_app_template_with_cta_url(acme_api):
    response = acme_api.post(
        "/api/v1/templates",
        {
            "key": "inbox-shipped",
            "channel": "in_app",
            "subject": "Shipped",
            "body": "Order {{ payload.order_id }} shipped",
            "cta_url": "https://shop.example/orders/{{ payload.order_id }}",
        },
    )

    assert response.status_code == 201
    assert response.json()["cta_url"] == "https://shop.example/orders/{{ payload.order_id }}"


def test_create_existing_key_and_locale_is_409(acme_api):
    acme_api.post("/api/v1/templates", email_template())

    response = acme_api.post("/api/v1/templates", email_template(subject="Other"))

    error_of(response, 409, "template_exists")
    assert acme_api.get("/api/v1/templates/order-shipped").json()["subject"].startswith("Order")


def test_locales_of_one_key(acme_api):
    acme_api.post("/api/v1/templates", email_template())
    fr = acme_api.post(
        "/api/v1/templates", email_template(locale="fr", subject="Commande expédiée")
    )

    assert fr.status_code == 201
    assert acme_api.get("/api/v1/templates/order-shipped").json()["locale"] == "en"
    got_fr = acme_api.get("/api/v1/templates/order-shipped?locale=fr").json()
    assert (got_fr["locale"], got_fr["subject"]) == ("fr", "Commande expédiée")


def test_get_defaults_to_the_configured_locale(acme_api, settings):
    settings.CLARION_DEFAULT_LOCALE = "de"
    acme_api.post("/api/v1/templates", email_template(locale="de", subject="Versandt"))

    response = acme_api.get("/api/v1/templates/order-shipped")

    assert response.json()["locale"] == "de"


def test_missing_locale_is_404_naming_the_existing_ones(acme_api):
    acme_api.post("/api/v1/templates", email_template(locale="fr"))

    error = error_of(acme_api.get("/api/v1/templates/order-shipped"), 404, "not_found")

    assert "fr" in error["message"]
    error_of(acme_api.get("/api/v1/templates/nothing"), 404, "not_found")
    error_of(acme_api.get("/api/v1/templates/order-shipped?locale=de"), 404, "not_found")


@pytest.mark.parametrize("method", ["post", "put"])
def test_all_locales_of_a_key_share_the_channel(acme_api, method):
    acme_api.post("/api/v1/templates", email_template())
    other = {"key": "order-shipped", "channel": "sms", "locale": "fr", "body": "Expédiée"}

    if method == "post":
        response = acme_api.post("/api/v1/templates", other)
    else:
        response = acme_api.put("/api/v1/templates/order-shipped", other)

    error = error_of(response, 400)
    assert list(error["fields"]) == ["channel"]


def test_unknown_fields_are_named(acme_api):
    response = acme_api.post(
        "/api/v1/templates",
        email_template(colour="red", variants=[{"name": "a", "body": "x", "size": 2}]),
    )

    error = error_of(response, 400)
    assert error["fields"]["colour"] == ["Unknown field."]
    assert acme_api.post(
        "/api/v1/templates", email_template(variants=[{"name": "a", "body": "x", "size": 2}])
    ).json()["error"]["fields"] == {"variants.0.size": ["Unknown field."]}


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"body": "<p>{{ payload.order_id </p>"}, "body"),
        ({"subject": "{% if payload.x %}never closed"}, "subject"),
        ({"cta_url": "https://x.example/{{ }}"}, "cta_url"),
        ({"body": "{{ payload.x | no_such_filter }}"}, "body"),
        ({"variants": [{"name": "b", "body": "{% for %}"}]}, "variants.0.body"),
        ({"variants": [{"name": "b", "subject": "{{ 1 +", "body": "ok"}]}, "variants.0.subject"),
    ],
)
def test_bad_jinja_syntax_is_400_on_the_field(acme_api, overrides, field):
    response = acme_api.post("/api/v1/templates", email_template(**overrides))

    error = error_of(response, 400)
    assert field in error["fields"]
    assert not acme_api.get("/api/v1/templates").json()["results"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ secret }}",
        "{{ settings.SECRET_KEY }}",
        "{{ request.user }}",
        "{{ range(10) | list }}",
        "{% include 'other.html' %}",
        "{{ payload.__class__ }}",
    ],
)
def test_a_template_naming_what_it_cannot_be_given_is_400(acme_api, source):
    response = acme_api.post("/api/v1/templates", email_template(body=source))

    error = error_of(response, 400)
    assert "body" in error["fields"]


def test_payload_subscriber_and_actor_are_allowed(acme_api):
    body = "{{ payload.a }} {{ subscriber.email }} {{ actor.name }} {% for i in payload.items %}"
    body += "{{ i }}{% endfor %}"

    response = acme_api.post("/api/v1/templates", email_template(body=body))

    assert response.status_code == 201


def test_an_email_template_needs_a_subject(acme_api):
    error = error_of(acme_api.post("/api/v1/templates", email_template(subject="")), 400)

    assert "subject" in error["fields"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"channel": "email"}, "key"),
        ({"key": "x"}, "channel"),
        ({"key": "x", "channel": "sms"}, "body"),
        ({"key": "has space", "channel": "sms", "body": "x"}, "key"),
        ({"key": "x", "channel": "fax", "body": "x"}, "channel"),
        ({"key": "x", "channel": "sms", "body": "x", "locale": "not a locale"}, "locale"),
    ],
)
def test_required_and_malformed_fields(acme_api, body, field):
    error = error_of(acme_api.post("/api/v1/templates", body), 400)

    assert field in error["fields"]


def test_variants_round_trip(acme_api):
    variants = [
        {"name": "control", "weight": 0, "subject": "", "body": "<p>{{ payload.order_id }}</p>"},
        {"name": "short", "weight": 3, "subject": "Shipped!", "body": "<p>Shipped</p>"},
    ]

    created = acme_api.post("/api/v1/templates", email_template(variants=variants)).json()
    got = acme_api.get("/api/v1/templates/order-shipped").json()

    assert created["variants"] == variants
    assert got["variants"] == variants


def test_variant_defaults(acme_api):
    response = acme_api.post(
        "/api/v1/templates", email_template(variants=[{"name": "a", "body": "<p>A</p>"}])
    )

    assert response.json()["variants"] == [
        {"name": "a", "weight": 1, "subject": "", "body": "<p>A</p>"}
    ]


@pytest.mark.parametrize(
    "variants, field",
    [
        ([{"name": "a", "body": "x"}, {"name": "a", "body": "y"}], "variants.1.name"),
        ([{"name": "a", "weight": -1, "body": "x"}], "variants.0.weight"),
        ([{"name": "a", "weight": 1.5, "body": "x"}], "variants.0.weight"),
        ([{"name": "a", "weight": "heavy", "body": "x"}], "variants.0.weight"),
        ([{"name": "a", "body": ""}], "variants.0.body"),
        ([{"body": "x"}], "variants.0.name"),
        ([{"name": f"v{i}", "body": "x"} for i in range(21)], "variants"),
        ({"name": "a"}, "variants"),
    ],
)
def test_invalid_variants(acme_api, variants, field):
    error = error_of(acme_api.post("/api/v1/templates", email_template(variants=variants)), 400)

    assert field in error["fields"]


def test_twenty_variants_are_allowed(acme_api):
    variants = [{"name": f"v{i}", "body": "<p>x</p>"} for i in range(20)]

    response = acme_api.post("/api/v1/templates", email_template(variants=variants))

    assert response.status_code == 201
    assert len(response.json()["variants"]) == 20


def test_put_creates_then_replaces_with_the_variant_set(acme, acme_api):
    body = email_template(variants=[{"name": "a", "body": "<p>A</p>"}])
    body.pop("key")

    created = acme_api.put("/api/v1/templates/order-shipped", body)
    replaced = acme_api.put(
        "/api/v1/templates/order-shipped",
        {**body, "subject": "New", "variants": [{"name": "b", "weight": 2, "body": "<p>B</p>"}]},
    )

    assert created.status_code == 201
    assert replaced.status_code == 200
    assert replaced.json()["subject"] == "New"
    assert [v["name"] for v in replaced.json()["variants"]] == ["b"]
    with schema_context(acme.schema):
        template = Template.objects.get(key="order-shipped")
        assert list(template.variants.values_list("name", "weight")) == [("b", 2)]


def test_put_without_variants_removes_them(acme_api):
    acme_api.post("/api/v1/templates", email_template(variants=[{"name": "a", "body": "x"}]))

    response = acme_api.put("/api/v1/templates/order-shipped", email_template())

    assert response.json()["variants"] == []


def test_invalid_put_changes_nothing(acme_api):
    acme_api.post("/api/v1/templates", email_template(variants=[{"name": "a", "body": "<p>A</p>"}]))

    response = acme_api.put(
        "/api/v1/templates/order-shipped",
        email_template(subject="New", variants=[{"name": "b", "body": "{{ oops"}]),
    )

    error_of(response, 400)
    got = acme_api.get("/api/v1/templates/order-shipped").json()
    assert got["subject"].startswith("Order")
    assert [v["name"] for v in got["variants"]] == ["a"]


def test_put_locale_from_query(acme_api):
    body = email_template(subject="Expédiée")
    body.pop("key")

    response = acme_api.put("/api/v1/templates/order-shipped?locale=fr", body)

    assert response.status_code == 201
    assert response.json()["locale"] == "fr"
    assert acme_api.get("/api/v1/templates/order-shipped?locale=fr").status_code == 200
    assert acme_api.get("/api/v1/templates/order-shipped").status_code == 404


@pytest.mark.parametrize(
    "path, overrides, field",
    [
        ("/api/v1/templates/order-shipped", {"key": "other"}, "key"),
        ("/api/v1/templates/order-shipped?locale=fr", {"locale": "de"}, "locale"),
    ],
)
def test_put_body_must_agree_with_the_url(acme_api, path, overrides, field):
    error = error_of(acme_api.put(path, email_template(**overrides)), 400)

    assert list(error["fields"]) == [field]


def test_delete_one_locale(acme_api):
    acme_api.post("/api/v1/templates", email_template())
    acme_api.post("/api/v1/templates", email_template(locale="fr"))

    response = acme_api.delete("/api/v1/templates/order-shipped?locale=fr")

    assert response.status_code == 204
    assert acme_api.get("/api/v1/templates/order-shipped?locale=fr").status_code == 404
    assert acme_api.get("/api/v1/templates/order-shipped").status_code == 200


def test_delete_without_locale_deletes_every_locale(acme_api):
    acme_api.post("/api/v1/templates", email_template())
    acme_api.post("/api/v1/templates", email_template(locale="fr"))

    response = acme_api.delete("/api/v1/templates/order-shipped")

    assert response.status_code == 204
    assert acme_api.get("/api/v1/templates?key=order-shipped").json()["results"] == []


def test_delete_unknown_is_404(acme_api):
    acme_api.post("/api/v1/templates", email_template())

    error_of(acme_api.delete("/api/v1/templates/nothing"), 404, "not_found")
    error_of(acme_api.delete("/api/v1/templates/order-shipped?locale=fr"), 404, "not_found")


def test_delete_a_template_used_by_a_workflow_is_409(acme, acme_api):
    acme_api.post("/api/v1/templates", email_template())
    acme_api.post("/api/v1/templates", email_template(locale="fr"))
    with schema_context(acme.schema):
        WorkflowStepFactory(
            workflow=WorkflowFactory(key="shipping"), template_key="order-shipped", position=0
        )

    whole_key = acme_api.delete("/api/v1/templates/order-shipped")
    one_locale = acme_api.delete("/api/v1/templates/order-shipped?locale=fr")
    last_locale = acme_api.delete("/api/v1/templates/order-shipped?locale=en")

    assert "shipping" in error_of(whole_key, 409, "template_in_use")["message"]
    assert one_locale.status_code == 204  # the key still exists in en
    error_of(last_locale, 409, "template_in_use")
    assert acme_api.get("/api/v1/templates/order-shipped").status_code == 200


def test_a_template_used_by_a_workflow_keeps_its_channel(acme, acme_api):
    acme_api.post("/api/v1/templates", email_template())
    with schema_context(acme.schema):
        WorkflowStepFactory(template_key="order-shipped", channel="email", position=0)

    response = acme_api.put(
        "/api/v1/templates/order-shipped", {"channel": "sms", "body": "Shipped"}
    )

    error_of(response, 409, "template_in_use")


def test_templates_are_invisible_to_other_tenants(acme, acme_api, globex, globex_api):
    acme_api.post("/api/v1/templates", email_template())
    by_key = ApiClient("localhost", globex.key)

    error_of(globex_api.get("/api/v1/templates/order-shipped"), 404, "not_found")
    error_of(by_key.get("/api/v1/templates/order-shipped"), 404, "not_found")
    assert globex_api.get("/api/v1/templates").json()["results"] == []
    error_of(globex_api.delete("/api/v1/templates/order-shipped"), 404, "not_found")
    # The same key is free in another tenant, and stays separate.
    assert globex_api.post("/api/v1/templates", email_template(subject="Globex")).status_code == 201
    assert acme_api.get("/api/v1/templates/order-shipped").json()["subject"].startswith("Order")


def test_factory_templates_are_listed(in_acme, acme_api):
    TemplateFactory(key="from-factory")

    response = acme_api.get("/api/v1/templates/from-factory")

    assert response.status_code == 200
    assert response.json()["channel"] == "email"


def test_requires_an_api_key(acme):
    response = ApiClient(acme.host).get("/api/v1/templates")

    error_of(response, 401, "not_authenticated")


def test_a_variant_that_is_not_an_object(acme_api):
    error = error_of(acme_api.post("/api/v1/templates", email_template(variants=["x"])), 400)

    assert error["fields"] == {"variants.0": ["Expected an object."]}
