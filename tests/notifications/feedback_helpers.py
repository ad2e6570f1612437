"""Provider callbacks as each provider documents them, signed (or forged) the way it signs.

Payload shapes follow django-anymail's own webhook tests (tests/test_<esp>_webhooks.py), which
follow each ESP's documentation; signatures are computed here from the documented
algorithms, independently of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook

from notifications.models import Delivery, Integration, Notification, Subscriber


def sent_delivery(
    integration: Integration,
    message_id: str,
    *,
    email: str = "ada@example.com",
    phone: str = "+14155550100",
    status: str = "sent",
) -> Delivery:
    """A delivery `integration` sent, known to the provider as `message_id`."""
    subscriber = Subscriber.objects.create(
        subscriber_id=f"fb-{uuid.uuid4().hex[:10]}", email=email, phone=phone
    )
    notification = Notification.objects.create(
        event="feedback.test",
        priority="normal",
        transaction_id=uuid.uuid4().hex,
        request_hash="x",
        status="processed",
    )
    return Delivery.objects.create(
        notification=notification,
        subscriber=subscriber,
        subscriber_ref=subscriber.subscriber_id,
        channel=integration.channel,
        priority="normal",
        status=status,
        attempts=1,
        provider=integration.provider,
        integration=integration,
        provider_message_id=message_id,
    )


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Callback:
    """One webhook request: body, content type and headers."""

    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


# --- Mailgun: HMAC-SHA256(signing key, timestamp + token), in the body's signature block ----
# https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/#securing-webhooks


def mailgun_callback(message_id: str, *, key: str, event: dict | None = None) -> Callback:
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    event_data = event or {
        "event": "failed",
        "severity": "permanent",
        "reason": "bounce",
        "recipient": "ada@example.com",
        "timestamp": 1534110422.389832,
        "log-level": "error",
        "message": {"headers": {"to": "ada@example.com", "message-id": message_id}},
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"},
    }
    body = {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": event_data,
    }
    return Callback(json.dumps(body).encode())


# --- Postmark, Brevo, Mailjet: HTTP basic auth only ----------------------------------------


def postmark_callback(
    message_id: str,
    *,
    auth: str,
    email: str = "ada@example.com",
    record_type: str = "Bounce",
    bounce_type: str = "HardBounce",
) -> Callback:
    body = {
        "RecordType": record_type,
        "ID": 901542550,
        "Type": bounce_type,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": message_id,
        "Description": "The server was unable to deliver your message.",
        "Email": email,
        "From": "sender@example.com",
        "BouncedAt": "2026-11-27T16:28:50.3963933-04:00",
    }
    return Callback(json.dumps(body).encode(), headers={"Authorization": auth})


def brevo_callback(message_id: str, *, auth: str) -> Callback:
    body = {
        "event": "hard_bounce",
        "email": "ada@example.com",
        "ts_epoch": 1520363423000,
        "message-id": message_id,
        "reason": " RecipientError: 550 5.5.0 Requested action not taken: mailbox unavailable.",
    }
    return Callback(json.dumps(body).encode(), headers={"Authorization": auth})


def mailjet_callback(message_id: str, *, auth: str) -> Callback:
    body = [
        {
            "event": "sent",
            "time": 1498093527,
            "MessageID": int(message_id),
            "email": "ada@example.com",
            "mj_campaign_id": 1234567890,
            "smtp_reply": "sent (250 2.0.0 OK 1498093527 a67bc87d...)",
        }
    ]
    return Callback(json.dumps(body).encode(), headers={"Authorization": auth})


# --- SendGrid: ECDSA P-256 over timestamp + body (signed event webhook) ---------------------
# https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features


def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid shows it: the PEM body without its armour lines."""
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"".join(pem.splitlines()[1:-1]).decode()


def sendgrid_callback(message_id: str, *, key: ec.EllipticCurvePrivateKey) -> Callback:
    body = json.dumps(
        [
            {
                "email": "ada@example.com",
                "timestamp": 1461095250,
                "smtp-id": "<wrfRRvF7Q0GgwUo2CvDmEA@ismtpd0006p1sjc2.sendgrid.net>",
                "sg_event_id": "nOSv8m0eTQ-vxvwNwt3fZQ",
                "sg_message_id": "wrfRRvF7Q0GgwUo2CvDmEA.filter0425p1mdw1.13037.57168B4A1D.0",
                "event": "delivered",
                "anymail_id": message_id,
            }
        ]
    ).encode()
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return Callback(
        body,
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        },
    )


# --- Resend: Svix (Standard Webhooks) HMAC-SHA256 over id.timestamp.body --------------------
# https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests


def svix_secret() -> str:
    return "whsec_" + base64.b64encode(uuid.uuid4().bytes).decode()


def resend_callback(message_id: str, *, secret: str) -> Callback:
    body = json.dumps(
        {
            "created_at": "2026-11-28T17:19:44.823Z",
            "data": {
                "created_at": "2026-11-28T17:19:43.982Z",
                "email_id": message_id,
                "from": "Acme <noreply@acme.example>",
                "subject": "Your order shipped",
                "to": ["ada@example.com"],
            },
            "type": "email.delivered",
        }
    )
    svix_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id=svix_id, timestamp=now, data=body)
    return Callback(
        body.encode(),
        headers={
            "svix-id": svix_id,
            "svix-timestamp": str(int(now.timestamp())),
            "svix-signature": signature,
        },
    )


# --- Amazon SES through SNS: RSA over the canonical message, with Amazon's certificate ------
# https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html


@dataclass
class SnsSigner:
    """A signing key and its self-signed certificate, served at `cert_url`."""

    key: rsa.RSAPrivateKey
    pem: bytes
    cert_url: str = ""

    @classmethod
    def create(cls) -> SnsSigner:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(tz=UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, pem=cert.public_bytes(serialization.Encoding.PEM))

    def sign(self, message: dict) -> dict:
        if message["Type"] == "Notification":
            keys = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
        else:
            keys = (
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            )
        text = "".join(f"{k}\n{message[k]}\n" for k in keys if k in message)
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
        return {
            **message,
            "SignatureVersion": "2",
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": self.cert_url,
        }


def sns_callback(message: dict, *, auth: str | None = None) -> Callback:
    headers = {
        "x-amz-sns-message-type": message["Type"],
        "x-amz-sns-message-id": message["MessageId"],
    }
    if auth:
        headers["Authorization"] = auth
    return Callback(json.dumps(message).encode(), content_type="text/plain", headers=headers)


def ses_bounce_message(message_id: str) -> dict:
    ses_event = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": "ada@example.com", "status": "5.1.1", "action": "failed"}
            ],
            "timestamp": "2026-11-27T14:59:44.101Z",
            "feedbackId": "00000138111222aa-44455566-cccc-cccc-cccc-ddddaaaa068a-000000",
        },
        "mail": {
            "timestamp": "2026-11-27T14:59:38.237Z",
            "source": "noreply@acme.example",
            "messageId": message_id,
            "destination": ["ada@example.com"],
        },
    }
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:1234567890:SES_Events",
        "Subject": "Amazon SES Email Event Notification",
        "Message": json.dumps(ses_event) + "\n",
        "Timestamp": "2026-11-27T14:59:45.000Z",
    }


# --- Twilio: base64(HMAC-SHA1(auth token, URL + sorted params)) ----------------------------
# https://www.twilio.com/docs/usage/security#validating-requests


def twilio_sign(token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(
        hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    ).decode()
