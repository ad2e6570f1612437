"""Configuration as code: export_config writes a tenant's configuration as one document,
import_config applies one through the API's services, in one transaction."""

import io

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection

SECRET = "exchange-Secret-pa55-77"
RESOURCES = ("templates", "workflows", "schemas", "routes", "throttles")


def _configure(api):
    """A configuration with something of everything the document holds (and an integration)."""
    bodies = [
        ("/api/v1/templates", {"key": "order-shipped", "channel": "email",
            "subject": "Order {{ payload.order_id }}",
            "body": "<p>Hi {{ subscriber.first_name }},</p>\n<p>order {{ payload.order_id }}.</p>",
            "variants": [{"name": "short", "weight": 2, "subject": "Shipped!",
                          "body": "<p>{{ payload.order_id }}</p>"}]}),
        ("/api/v1/templates", {"key": "order-shipped", "locale": "fr", "channel": "email",
            "subject": "Commande", "body": "<p>Bonjour</p>"}),
        ("/api/v1/templates", {"key": "welcome", "channel": "email", "format": "mjml",
            "subject": "Welcome", "body": "<mjml><mj-body><mj-section><mj-column><mj-text>"
            "Hi {{ subscriber.first_name }}</mj-text></mj-column></mj-section></mj-body></mjml>"}),
        ("/api/v1/templates", {"key": "order-inbox", "channel": "in_app",
            "body": "Order {{ payload.order_id }}", "cta_url": "https://shop.example/o"}),
        ("/api/v1/workflows", {"key": "orders", "name": "Orders", "steps": [
            {"type": "send", "channel": "in_app", "template": "order-inbox"},
            {"type": "delay", "seconds": 60},
            {"type": "send", "channel": "email", "template": "order-shipped",
             "condition": {"unread": 0}}],
            "send_window": {"start": "08:00", "end": "21:00"}}),
        ("/api/v1/workflows", {"key": "welcome", "name": "Welcome", "critical": True,
            "steps": [{"type": "send", "channel": "email", "template": "welcome"}]}),
        ("/api/v1/routes", {"event": "order.shipped", "workflow": "orders", "priority": "high",
            "max_attempts": 3}),
        ("/api/v1/routes", {"event": "user.registered", "workflow": "welcome", "active": False}),
        ("/api/v1/throttles", {"key": "email-2-per-day", "limit": 2, "window_seconds": 86400,
            "channel": "email", "workflow": "orders"}),
        ("/api/v1/integrations", {"channel": "email", "provider": "smtp", "name": "Relay",
            "settings": {"host": "smtp.example.com", "port": 587, "from_email": "a@acme.test"},
            "credentials": {"username": "acme", "password": SECRET}}),
    ]  # fmt: skip
    for path, body in bodies:
        response = api.post(path, body)
        assert response.status_code == 201, (path, response.content)
    schema = {"type": "object", "required": ["order_id"],
              "properties": {"order_id": {"type": "string"}}}  # fmt: skip
    response = api.put("/api/v1/events/order.shipped/schemas/1", {"schema": schema})
    assert response.status_code == 201, response.content
    # A route bound to that version, beside the unbound one.
    response = api.post("/api/v1/routes", {"event": "order.shipped", "event_version": 1,
                                           "workflow": "welcome"})  # fmt: skip
    assert response.status_code == 201, response.content


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("id", "created_at",
                "updated_at")}  # fmt: skip
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _configuration(api) -> dict:
    """What the API shows of every resource the document holds, minus ids and timestamps."""
    shown = {}
    for name in RESOURCES:
        path = "events/order.shipped/schemas" if name == "schemas" else name
        response = api.get(f"/api/v1/{path}", {"limit": 500})
        assert response.status_code == 200
        shown[name] = _strip(response.json()["results"])
    return shown


def _run(command, *args, **options) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO(), **options)
    connection.set_schema_to_public()
    return out.getvalue()


def test_export_then_import_into_a_fresh_tenant_gives_the_same_configuration(
    acme, acme_api, globex, globex_api, tmp_path
):
    # given a configured tenant, exported to a file
    _configure(acme_api)
    path = tmp_path / "acme.yaml"
    _run("export_config", "acme", output=str(path))
    text = path.read_text()

    # when the file is imported into another tenant, which has none of it
    assert all(not rows for rows in _configuration(globex_api).values())
    output = _run("import_config", "globex", str(path))

    # then the API shows the same configuration in both
    assert _configuration(globex_api) == _configuration(acme_api)
    assert "Imported into globex: 11 created, 0 changed, 0 unchanged." in output
    # the document is YAML with one section per resource, without integrations or secrets
    document = yaml.safe_load(text)
    assert list(document) == ["version", *RESOURCES]
    assert SECRET not in text and "smtp.example.com" not in text
    assert "body: |" in text  # multi-line bodies stay readable
    assert globex_api.get("/api/v1/integrations").json()["results"] == []
    # and each change went through the services: audited as the import
    entries = globex_api.get("/api/v1/audit-log", {"resource": "route"}).json()["results"]
    assert {(e["key"], e["action"], e["actor"]) for e in entries} == {
        ("order.shipped", "create", "cli:import_config"),
        ("user.registered", "create", "cli:import_config"),
    }


def test_export_writes_to_stdout(acme, acme_api):
    _configure(acme_api)

    document = yaml.safe_load(_run("export_config", "acme"))

    assert [(route["event"], route["event_version"]) for route in document["routes"]] == [
        ("order.shipped", None),
        ("order.shipped", 1),
        ("user.registered", None),
    ]
    assert document["schemas"][0]["schema"]["required"] == ["order_id"]
    assert document["workflows"][0]["steps"][2] == {
        "type": "send", "channel": "email", "template": "order-shipped", "condition": {"unread": 0}
    }  # fmt: skip


def test_a_dry_run_prints_the_diff_and_changes_nothing(acme, acme_api, tmp_path):
    # given a tenant and a changed copy of its configuration
    _configure(acme_api)
    document = yaml.safe_load(_run("export_config", "acme"))
    document["routes"][0]["priority"] = "low"
    document["throttles"].append({"key": "sms-1", "limit": 1, "window_seconds": 60})
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(document))
    before = _configuration(acme_api)
    audit_before = acme_api.get("/api/v1/audit-log", {"resource": "route"}).json()

    # when it is imported with --dry-run
    output = _run("import_config", "acme", str(path), dry_run=True)

    # then the diff shows the change and the addition, and nothing changed
    assert "~ routes order.shipped" in output
    assert '    -  "priority": "high",' in output
    assert '    +  "priority": "low",' in output
    assert "+ throttles sms-1" in output
    assert "order-shipped" not in output  # unchanged items are not shown
    summary = "Dry run for acme: 1 to create, 1 to change, 10 unchanged; nothing was changed."
    assert summary in output
    assert _configuration(acme_api) == before
    assert acme_api.get("/api/v1/audit-log", {"resource": "route"}).json() == audit_before

    # and without --dry-run the same document is applied
    applied = _run("import_config", "acme", str(path))
    assert "~ routes order.shipped" in applied
    assert acme_api.get("/api/v1/routes/order.shipped").json()["priority"] == "low"
    assert acme_api.get("/api/v1/throttles/sms-1").status_code == 200


def test_importing_the_same_configuration_again_changes_nothing(acme, acme_api, tmp_path):
    _configure(acme_api)
    path = tmp_path / "acme.yaml"
    _run("export_config", "acme", output=str(path))
    audit_before = acme_api.get("/api/v1/audit-log", {"resource": "workflow"}).json()

    output = _run("import_config", "acme", str(path))

    assert "0 created, 0 changed, 11 unchanged" in output
    assert "~ " not in output and "+ " not in output
    assert acme_api.get("/api/v1/audit-log", {"resource": "workflow"}).json() == audit_before


def test_an_invalid_item_changes_nothing_and_names_it(globex, globex_api, tmp_path):
    document = {
        "version": 1,
        "templates": [{"key": "ok", "channel": "sms", "body": "Fine"}],
        "workflows": [{"key": "wf", "name": "Wf", "steps": [
            {"type": "send", "channel": "sms", "template": "missing"}]}],
    }  # fmt: skip
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))

    with pytest.raises(CommandError) as raised:
        _run("import_config", "globex", str(path))
    connection.set_schema_to_public()

    assert "nothing was changed" in str(raised.value)
    assert "workflows wf" in str(raised.value)
    assert "workflows.0.steps.0.template" in str(raised.value)
    assert globex_api.get("/api/v1/templates").json()["results"] == []


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ("[1, 2]", "document"),
        ("version: 9", "version"),
        ("integrations: []", "integrations"),
        ("routes: {}", "routes"),
        ("routes: [{event: a}]", "routes.0.workflow"),
        ("throttles: [{key: t, limit: yes, window_seconds: 60}]", "throttles.0.limit"),
        ("templates: [{key: t, channel: sms, body: b, colour: red}]", "templates.0.colour"),
        ("templates: [{key: t, channel: email, body: b, subject: s, variants: [{name: v}]}]",
         "templates.0.variants.0.body"),
        ("key: [unclosed", "not valid YAML"),
    ],
)  # fmt: skip
def test_a_malformed_document_is_refused(globex, tmp_path, document, named):
    path = tmp_path / "bad.yaml"
    path.write_text(document)

    with pytest.raises(CommandError) as raised:
        _run("import_config", "globex", str(path))
    connection.set_schema_to_public()

    assert named in str(raised.value)


def test_an_unknown_tenant_or_file_is_an_error(globex, tmp_path):
    with pytest.raises(CommandError, match="no tenant 'nope'"):
        _run("export_config", "nope")
    with pytest.raises(CommandError, match="cannot read"):
        _run("import_config", "globex", str(tmp_path / "missing.yaml"))
