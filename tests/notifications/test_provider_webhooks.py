"""POST /api/v1/integrations/{id}/webhook: each provider's callback, signed as it documents,
moves the delivery; a forged or unsigned one is a 401 and changes nothing."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest

from notifications.models import DeliveryEvent, Integration, Suppression
from tests.conftest import ApiClient
from tests.notifications import feedback_helpers as fb

pytestmark = pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")

ESP_SETTINGS = {"from_email": "Acme <noreply@acme.example>"}


def esp_integration(esp: str, **credentials) -> Integration:
    return Integration.objects.create(
        channel="email",
        provider=f"anymail:{esp}",
        name=f"{esp} account",
        settings=ESP_SETTINGS,
        credentials=credentials,
    )


def post(client, integration: Integration, callback: fb.Callback):
    return client.generic(
        "POST",
        f"/api/v1/integrations/{integration.pk}/webhook",
        callback.body,
        content_type=callback.content_type,
        headers=callback.headers,
        secure=True,
    )


@pytest.fixture
def hooks(acme) -> ApiClient:
    """A client on acme's host with no API key: providers have none."""
    return ApiClient(acme.host)


def history(delivery) -> list[tuple[str, str, str]]:
    return list(
        DeliveryEvent.objects.filter(delivery=delivery)
        .order_by("id")
        .values_list("from_status", "status", "provider")
    )


# Each case: the ESP, the integration's credentials, a signed callback for a message id, a
# forged one, the id as the ESP's send API returned it, and the status it leads to.
def _mailgun():
    return (
        {"webhook_signing_key": "key-mailgun-1"},
        lambda mid: fb.mailgun_callback(mid, key="key-mailgun-1"),
        lambda mid: fb.mailgun_callback(mid, key="key-someone-else"),
        lambda mid: f"<{mid}>",
        "bounced",
    )


def _postmark():
    return (
        {"server_token": "pm", "webhook_secret": "hooks:s3cret"},
        lambda mid: fb.postmark_callback(mid, auth=fb.basic_auth("hooks", "s3cret")),
        lambda mid: fb.postmark_callback(mid, auth=fb.basic_auth("hooks", "guess")),
        lambda mid: mid,
        "bounced",
    )


def _sendgrid():
    key, other = fb.sendgrid_key(), fb.sendgrid_key()
    return (
        {"api_key": "SG.x", "webhook_verification_key": fb.sendgrid_public_key(key)},
        lambda mid: fb.sendgrid_callback(mid, key=key),
        lambda mid: fb.sendgrid_callback(mid, key=other),
        lambda mid: mid,
        "delivered",
    )


def _resend():
    secret, other = fb.svix_secret(), fb.svix_secret()
    return (
        {"api_key": "re_x", "webhook_signing_secret": secret},
        lambda mid: fb.resend_callback(mid, secret=secret),
        lambda mid: fb.resend_callback(mid, secret=other),
        lambda mid: mid,
        "delivered",
    )


def _brevo():
    return (
        {"api_key": "xkeysib", "webhook_secret": "brevo:hook-pass"},
        lambda mid: fb.brevo_callback(mid, auth=fb.basic_auth("brevo", "hook-pass")),
        lambda mid: fb.brevo_callback(mid, auth=fb.basic_auth("brevo", "hook-pas")),
        lambda mid: mid,
        "bounced",
    )


def _mailjet():
    return (
        {"api_key": "mj", "secret_key": "mjs", "webhook_secret": "mj:hook"},
        lambda mid: fb.mailjet_callback(mid, auth=fb.basic_auth("mj", "hook")),
        lambda mid: fb.mailjet_callback(mid, auth=fb.basic_auth("mj", "nope")),
        lambda mid: mid,
        "delivered",
    )


ESP_CASES = {
    "mailgun": (_mailgun, "20261127214658.1.0DF563D0B3597700@acme.example"),
    "postmark": (_postmark, "2706ee8a-737c-4285-b032-ccd317af53ed"),
    "sendgrid": (_sendgrid, "de212213-bb66-4302-8f3f-20acdb7a104e"),
    "resend": (_resend, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
    "brevo": (_brevo, "<202611271158.9876543210@smtp-relay.mailin.fr>"),
    "mailjet": (_mailjet, "12345678901234567"),
}


@pytest.mark.parametrize("esp", sorted(ESP_CASES))
def test_a_signed_esp_event_moves_its_delivery_and_a_forged_one_is_refused(in_acme, hooks, esp):
    # given a delivery the ESP accepted
    make, message_id = ESP_CASES[esp]
    credentials, signed, forged, stored_id, expected = make()
    integration = esp_integration(esp, **credentials)
    delivery = fb.sent_delivery(integration, stored_id(message_id))

    # when a forged callback comes
    refused = post(hooks, integration, forged(message_id))

    # then it is refused and nothing changes
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_signature"
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert history(delivery) == []

    # when the ESP's signed callback comes, and comes again (ESPs retry)
    callback = signed(message_id)
    accepted = post(hooks, integration, callback)
    replayed = post(hooks, integration, callback)

    # then the delivery moved, once
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["matched"] == 1
    assert (replayed.status_code, replayed.json()["recorded"]) == (200, 0)
    delivery.refresh_from_db()
    assert delivery.status == expected
    assert history(delivery) == [("sent", expected, f"anymail:{esp}")]
    suppressed = Suppression.objects.filter(channel="email", address="ada@example.com")
    assert suppressed.exists() == (expected == "bounced")


def test_amazon_ses_through_sns_is_checked_against_amazons_signature(
    in_acme, hooks, http_server, settings
):
    # given SNS's signing certificate at an allowed URL
    settings.CLARION_SNS_URL_PATTERN = rf"^{http_server.url}/"
    signer = fb.SnsSigner.create()
    signer.cert_url = f"{http_server.url}/SimpleNotificationService-01.pem"
    http_server.respond(200, body=signer.pem, path_prefix="/SimpleNotificationService")
    integration = esp_integration("amazon_ses", aws_access_key_id="A", aws_secret_access_key="S")
    message_id = "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"
    delivery = fb.sent_delivery(integration, message_id)
    message = signer.sign(fb.ses_bounce_message(message_id))

    # when the message is altered after signing, or signed by someone else's key
    altered = {**message, "Message": message["Message"].replace("Permanent", "Transient")}
    impostor = fb.SnsSigner.create()
    impostor.cert_url = "https://attacker.example/cert.pem"
    refused = [
        post(hooks, integration, fb.sns_callback(altered)),
        post(hooks, integration, fb.sns_callback(impostor.sign(fb.ses_bounce_message(message_id)))),
    ]

    # then both are refused
    assert [r.status_code for r in refused] == [401, 401]
    delivery.refresh_from_db()
    assert delivery.status == "sent"

    # when SNS delivers the signed notification
    accepted = post(hooks, integration, fb.sns_callback(message))

    # then the hard bounce applies and suppresses the address
    assert accepted.status_code == 200, accepted.content
    delivery.refresh_from_db()
    assert delivery.status == "bounced"
    assert Suppression.objects.get(channel="email", address="ada@example.com").reason == (
        "hard_bounce"
    )


def test_an_sns_subscription_is_confirmed_through_its_subscribe_url(
    in_acme, hooks, http_server, settings
):
    # given an SES integration with a webhook secret (basic auth in the SNS endpoint URL)
    settings.CLARION_SNS_URL_PATTERN = rf"^{http_server.url}/"
    signer = fb.SnsSigner.create()
    signer.cert_url = f"{http_server.url}/SimpleNotificationService-02.pem"
    http_server.respond(200, body=signer.pem, path_prefix="/SimpleNotificationService")
    http_server.respond(200, body="<ConfirmSubscriptionResponse/>", path_prefix="/confirm")
    integration = esp_integration(
        "amazon_ses", aws_access_key_id="A", aws_secret_access_key="S", webhook_secret="sns:pw"
    )
    confirmation = signer.sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": "2336412f37",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:SES_Events",
            "Message": "You have chosen to subscribe to the topic ...",
            "SubscribeURL": f"{http_server.url}/confirm?Action=Confirm&Token=2336412f37",
            "Timestamp": "2026-11-27T14:59:45.000Z",
        }
    )

    # when SNS first asks without credentials, then with them
    challenged = post(hooks, integration, fb.sns_callback(confirmation))
    confirmed = post(
        hooks, integration, fb.sns_callback(confirmation, auth=fb.basic_auth("sns", "pw"))
    )

    # then the first is challenged for basic auth, the second confirms the subscription
    assert challenged.status_code == 401
    assert challenged["WWW-Authenticate"].startswith("Basic")
    assert confirmed.status_code == 200, confirmed.content
    [confirm] = http_server.requests_to("/confirm")
    assert confirm.query["Token"] == "2336412f37"


TWILIO_SID = "SM1f0e8ae6ade43cb3c0ce4525424e404f"


def twilio(integration_settings=None) -> Integration:
    return Integration.objects.create(
        channel="sms",
        provider="twilio",
        name="Twilio",
        settings=integration_settings or {"account_sid": "AC123", "from_number": "+14155550000"},
        credentials={"auth_token": "twilio-token"},
    )


def twilio_post(client, integration, params: dict[str, str], signature: str | None):
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    return client.generic(
        "POST",
        f"/api/v1/integrations/{integration.pk}/webhook",
        body,
        content_type="application/x-www-form-urlencoded",
        headers=headers,
        secure=True,
    )


def test_a_signed_twilio_status_callback_moves_the_sms_and_an_unsigned_one_is_refused(
    in_acme, hooks, acme
):
    # given an SMS Twilio accepted
    integration = twilio()
    delivery = fb.sent_delivery(integration, TWILIO_SID)
    url = f"https://{acme.host}/api/v1/integrations/{integration.pk}/webhook"
    params = {
        "MessageSid": TWILIO_SID,
        "SmsSid": TWILIO_SID,
        "AccountSid": "AC123",
        "MessageStatus": "delivered",
        "To": "+14155550100",
        "From": "+14155550000",
    }

    # when callbacks come unsigned, signed with another token, or signed over other values
    refused = [
        twilio_post(hooks, integration, params, None),
        twilio_post(hooks, integration, params, fb.twilio_sign("other-token", url, params)),
        twilio_post(
            hooks,
            integration,
            {**params, "MessageStatus": "failed"},
            fb.twilio_sign("twilio-token", url, params),
        ),
    ]

    # then they are refused with 401 in the error envelope, and nothing changes
    assert [r.status_code for r in refused] == [401, 401, 401]
    assert {r.json()["error"]["code"] for r in refused} == {"invalid_signature"}
    delivery.refresh_from_db()
    assert delivery.status == "sent"

    # when Twilio's signed callback comes, twice (Twilio retries)
    first = twilio_post(hooks, integration, params, fb.twilio_sign("twilio-token", url, params))
    again = twilio_post(hooks, integration, params, fb.twilio_sign("twilio-token", url, params))

    # then the SMS is delivered, recorded once
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["recorded"] == 1 and again.json()["recorded"] == 0
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert history(delivery) == [("sent", "delivered", "twilio")]


@pytest.mark.parametrize(
    ("record_type", "bounce_type", "status", "suppressed"),
    [
        ("Bounce", "SoftBounce", "sent", None),
        ("SpamComplaint", "SpamComplaint", "sent", "complaint"),
        ("Bounce", "HardBounce", "bounced", "hard_bounce"),
    ],
)
def test_soft_bounces_are_recorded_and_complaints_suppress_without_a_status_change(
    in_acme, hooks, record_type, bounce_type, status, suppressed
):
    integration = esp_integration("postmark", server_token="pm", webhook_secret="u:p")
    delivery = fb.sent_delivery(integration, "pm-kind")
    callback = fb.postmark_callback(
        "pm-kind",
        auth=fb.basic_auth("u", "p"),
        email="Ada@Example.com",
        record_type=record_type,
        bounce_type=bounce_type,
    )

    response = post(hooks, integration, callback)

    assert response.json()["recorded"] == 1
    delivery.refresh_from_db()
    assert delivery.status == status
    assert len(history(delivery)) == 1
    assert list(Suppression.objects.values_list("address", "reason", "delivery_id")) == (
        [("ada@example.com", suppressed, delivery.pk)] if suppressed else []
    )


@pytest.mark.parametrize(("error_code", "suppressed"), [("30005", True), ("30008", False)])
def test_an_undelivered_sms_bounces_and_a_permanent_error_suppresses_the_number(
    in_acme, hooks, acme, error_code, suppressed
):
    integration = twilio()
    delivery = fb.sent_delivery(integration, TWILIO_SID)
    url = f"https://{acme.host}/api/v1/integrations/{integration.pk}/webhook"
    params = {
        "MessageSid": TWILIO_SID,
        "MessageStatus": "undelivered",
        "ErrorCode": error_code,
        "AccountSid": "AC123",
        "To": "+14155550100",
    }

    response = twilio_post(hooks, integration, params, fb.twilio_sign("twilio-token", url, params))

    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "bounced"
    assert Suppression.objects.filter(channel="sms", address="+14155550100").exists() == suppressed


def test_twilios_documented_signature_example_is_accepted_by_the_connector():
    from connectors.twilio import twilio_signature

    # https://www.twilio.com/docs/usage/security#validating-requests
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_an_event_for_an_unknown_message_id_is_accepted_and_ignored(in_acme, hooks):
    integration = esp_integration("postmark", server_token="pm", webhook_secret="u:p")
    delivery = fb.sent_delivery(integration, "known-id")

    response = post(
        hooks, integration, fb.postmark_callback("never-sent-by-us", auth=fb.basic_auth("u", "p"))
    )

    assert response.status_code == 200
    assert response.json() == {"received": 1, "matched": 0, "recorded": 0, "suppressed": 0}
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert not Suppression.objects.exists()


def test_the_webhook_needs_no_csrf_token_nor_api_key_and_answers_json_to_any_accept(in_acme, acme):
    from django.test import Client

    integration = esp_integration("postmark", server_token="pm", webhook_secret="u:p")
    delivery = fb.sent_delivery(integration, "csrf-id")
    callback = fb.postmark_callback("csrf-id", auth=fb.basic_auth("u", "p"))

    callback.headers["Accept"] = "text/html"
    response = post(Client(HTTP_HOST=acme.host, enforce_csrf_checks=True), integration, callback)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    delivery.refresh_from_db()
    assert delivery.status == "bounced"


def test_a_message_id_of_another_integration_is_not_matched(in_acme, hooks):
    ours = esp_integration("postmark", server_token="pm", webhook_secret="u:p")
    theirs = esp_integration("postmark", server_token="pm2", webhook_secret="v:q")
    delivery = fb.sent_delivery(theirs, "shared-id")

    response = post(hooks, ours, fb.postmark_callback("shared-id", auth=fb.basic_auth("u", "p")))

    assert response.json()["matched"] == 0
    delivery.refresh_from_db()
    assert delivery.status == "sent"


def test_an_esp_without_a_webhook_secret_refuses_every_callback(in_acme, hooks):
    integration = esp_integration("postmark", server_token="pm")
    delivery = fb.sent_delivery(integration, "pm-id")

    response = post(hooks, integration, fb.postmark_callback("pm-id", auth=""))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "webhook_not_configured"
    delivery.refresh_from_db()
    assert delivery.status == "sent"


def test_webhooks_of_unknown_integrations_and_of_providers_without_them_are_404(in_acme, hooks):
    slack = Integration.objects.create(
        channel="chat",
        provider="slack",
        name="Slack",
        settings={"url": "https://hooks.slack.com/x"},
    )

    unknown = hooks.post("/api/v1/integrations/987654/webhook", {})
    no_webhooks = hooks.post(f"/api/v1/integrations/{slack.pk}/webhook", {})

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert no_webhooks.status_code == 404


def test_a_callback_of_another_tenant_finds_nothing_on_this_host(in_acme, globex):
    # given acme's integration
    integration = esp_integration("postmark", server_token="pm", webhook_secret="u:p")
    fb.sent_delivery(integration, "acme-msg")

    # when its callback is sent to globex's host
    response = post(ApiClient(globex.host), integration, fb.postmark_callback("acme-msg", auth=""))

    # then globex has no such integration
    assert response.status_code == 404


def test_a_webhook_body_over_the_limit_is_413(in_acme, hooks, settings):
    integration = esp_integration("postmark", server_token="pm", webhook_secret="u:p")
    big = fb.Callback(json.dumps({"x": "y" * (settings.API_MAX_BODY_BYTES + 10)}).encode())

    response = post(hooks, integration, big)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_integration_shows_the_full_webhook_url(acme_api, acme, in_acme):
    created = acme_api.post(
        "/api/v1/integrations",
        {
            "channel": "email",
            "provider": "anymail:postmark",
            "name": "Postmark",
            "settings": ESP_SETTINGS,
            "credentials": {"server_token": "pm", "webhook_secret": "u:p"},
        },
    )
    assert created.status_code == 201, created.content
    integration_id = created.json()["id"]

    shown = acme_api.get(f"/api/v1/integrations/{integration_id}").json()

    assert shown["webhook_url"] == (
        f"https://{acme.host}/api/v1/integrations/{integration_id}/webhook"
    )
    assert "credentials" not in shown
