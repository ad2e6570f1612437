"""ESP tracking webhooks through django-anymail, one integration's secrets at a time.

django-anymail's tracking webhook views check each ESP's signature and parse its events,
then send them on its `tracking` signal. They normally read their secrets from the
platform's ANYMAIL settings; here each request builds the view from the integration's own
credentials instead (many tenants, many ESP accounts, one process), and the signal's events
are collected for that request only. https://anymail.dev/en/stable/tips/securing_webhooks/

Which credential checks each ESP (README, "Provider webhooks"):
- every ESP: `webhook_secret` (`user:password`), HTTP basic auth in the URL given to the ESP;
- Mailgun: `webhook_signing_key` (HMAC of the signature block);
- SendGrid: `webhook_verification_key` (the signed event webhook's public key, ECDSA);
- Resend: `webhook_signing_secret` (`whsec_…`, Svix / Standard Webhooks signatures);
- Amazon SES (through SNS): the SNS message signature, always, against Amazon's signing
  certificate; SubscriptionConfirmation is confirmed by fetching its SubscribeURL (through
  the destination guard) when `webhook_secret` is set, since only the basic auth shows the
  subscription is meant for this integration;
- Postmark, Brevo, Mailjet: `webhook_secret` alone (they sign nothing).
An ESP with none of its credentials set refuses every callback (`WebhookNotConfigured`).
"""

from __future__ import annotations

import base64
import contextvars
import functools
import re
import warnings
from typing import Any

import requests
from anymail.exceptions import (
    AnymailError,
    AnymailInsecureWebhookWarning,
    AnymailNotSupportedWarning,
    AnymailWebhookValidationFailure,
)
from anymail.signals import AnymailTrackingEvent, EventType, RejectReason, tracking
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from connectors.base import DestinationRefused, provider_timeout
from connectors.feedback import (
    Feedback,
    FeedbackEvent,
    WebhookMalformed,
    WebhookNotConfigured,
    WebhookRefused,
)
from connectors.http import guarded_session

_KINDS = {
    EventType.DELIVERED: Feedback.DELIVERED,
    EventType.BOUNCED: Feedback.BOUNCED,
    EventType.DEFERRED: Feedback.DEFERRED,
    EventType.OPENED: Feedback.OPENED,
    EventType.CLICKED: Feedback.CLICKED,
    EventType.COMPLAINED: Feedback.COMPLAINED,
    EventType.REJECTED: Feedback.REJECTED,
    EventType.FAILED: Feedback.FAILED,
    EventType.UNSUBSCRIBED: Feedback.UNSUBSCRIBED,
}
# A rejection for these reasons means the address itself is bad: a hard bounce.
_BAD_ADDRESS = frozenset({RejectReason.BOUNCED, RejectReason.INVALID})
# Postmark bounce types that are permanent; the others (SoftBounce, Transient, DnsError,
# AutoResponder, ...) are not. https://postmarkapp.com/developer/api/bounce-api#bounce-types
_POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})

# The events of the request being handled, filled by the `tracking` signal.
_collected: contextvars.ContextVar[list[AnymailTrackingEvent] | None] = contextvars.ContextVar(
    "clarion_anymail_events", default=None
)


def _collect(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    events = _collected.get()
    if events is not None and getattr(sender, "clarion_view", False):
        events.append(event)


tracking.connect(_collect, dispatch_uid="clarion_anymail_tracking")


def _soft_bounce(esp: str, raw: Any) -> bool:
    """Whether an anymail `bounced` event is a temporary failure, from the ESP's own event."""
    raw = raw if isinstance(raw, dict) else {}
    if esp == "postmark":
        return raw.get("Type") not in _POSTMARK_HARD
    if esp == "amazon_ses":
        return (raw.get("bounce") or {}).get("bounceType") != "Permanent"
    if esp in ("brevo", "sendinblue"):
        return raw.get("event") == "soft_bounce"
    if esp == "sendgrid":
        return raw.get("type") == "blocked"
    if esp == "resend":
        bounce = (raw.get("data") or {}).get("bounce") or {}
        return bounce.get("type") not in (None, "Permanent")
    return False


def feedback_from_anymail(esp: str, event: AnymailTrackingEvent) -> FeedbackEvent | None:
    """One anymail tracking event in Clarion's vocabulary; None for those that say nothing
    of what became of the message (queued, sent, inbound, unknown)."""
    kind = _KINDS.get(event.event_type)
    if kind is None or not event.message_id:
        return None
    if kind == Feedback.BOUNCED and _soft_bounce(esp, event.esp_event):
        kind = Feedback.SOFT_BOUNCED
    if kind == Feedback.REJECTED and event.reject_reason in _BAD_ADDRESS:
        kind = Feedback.BOUNCED
    detail = f"{esp}: {event.event_type}"
    if event.reject_reason:
        detail += f" ({event.reject_reason})"
    return FeedbackEvent(
        kind=kind,
        message_id=str(event.message_id).strip().strip("<>"),
        event_id=str(event.event_id or "")[:200],
        occurred_at=event.timestamp,
        recipient=event.recipient or "",
        detail=detail,
        suppress=kind in (Feedback.BOUNCED, Feedback.COMPLAINED),
    )


# --- per-ESP views -------------------------------------------------------------------------


class _SvixHeaders(StandardWebhook):
    """Standard Webhooks verification of Svix-signed callbacks (`svix-*` headers)."""

    def verify(self, data, headers):  # noqa: D102 - the library's method
        mapped = {k.lower().replace("svix-", "webhook-", 1): v for k, v in headers.items()}
        return super().verify(data, mapped)


def _resend_view():
    from anymail.webhooks.resend import ResendTrackingWebhookView

    class View(ResendTrackingWebhookView):
        clarion_view = True

        def __init__(self, *, clarion_signing_secret: str | None = None, **kwargs):
            # anymail's own Svix check stays off (it needs the `svix` package); this one
            # runs instead, with the same algorithm.
            super().__init__(signing_secret=None, **kwargs)
            self.clarion_svix = (
                _SvixHeaders(clarion_signing_secret) if clarion_signing_secret else None
            )

        def validate_request(self, request):
            if self.clarion_svix is not None:
                try:
                    self.clarion_svix.verify(request.body, request.headers)
                except (WebhookVerificationError, ValueError) as exc:
                    raise AnymailWebhookValidationFailure(
                        "Resend webhook called with an incorrect signature"
                    ) from exc

    return View


def _ses_view():
    from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
    from anymail.webhooks.base import AnymailBaseWebhookView

    class View(AmazonSESTrackingWebhookView):
        clarion_view = True

        def __init__(self, **kwargs):
            # anymail's SES view builds boto3 parameters for confirming subscriptions; this
            # one confirms over HTTPS itself, so boto3 is not needed.
            self.auto_confirm_enabled = True
            self.session_params, self.client_params = {}, {}
            AnymailBaseWebhookView.__init__(self, **kwargs)

        def validate_request(self, request):
            sns_verify_signature(self._parse_sns_message(request))

        def auto_confirm_sns_subscription(self, sns_message):
            if not self.basic_auth:
                raise AnymailWebhookValidationFailure(
                    "An SNS SubscriptionConfirmation needs the integration's webhook_secret"
                )
            sns_fetch(sns_message.get("SubscribeURL"))

    return View


def _view(path: str):
    module, name = path.rsplit(".", 1)
    from importlib import import_module

    base = getattr(import_module(module), name)
    return type(f"Clarion{name}", (base,), {"clarion_view": True})


# esp → (view factory, {anymail option: credential name}, credentials that authenticate).
_ESPS: dict[str, tuple[Any, dict[str, str], tuple[str, ...]]] = {
    "mailgun": (
        functools.partial(_view, "anymail.webhooks.mailgun.MailgunTrackingWebhookView"),
        {"webhook_signing_key": "webhook_signing_key", "api_key": "webhook_signing_key"},
        ("webhook_signing_key",),
    ),
    "sendgrid": (
        functools.partial(_view, "anymail.webhooks.sendgrid.SendGridTrackingWebhookView"),
        {"tracking_webhook_verification_key": "webhook_verification_key"},
        ("webhook_verification_key", "webhook_secret"),
    ),
    "resend": (
        _resend_view,
        {"clarion_signing_secret": "webhook_signing_secret"},
        ("webhook_signing_secret", "webhook_secret"),
    ),
    "amazon_ses": (_ses_view, {}, ("sns",)),
    "postmark": (
        functools.partial(_view, "anymail.webhooks.postmark.PostmarkTrackingWebhookView"),
        {},
        ("webhook_secret",),
    ),
    "brevo": (
        functools.partial(_view, "anymail.webhooks.brevo.BrevoTrackingWebhookView"),
        {},
        ("webhook_secret",),
    ),
    "sendinblue": (
        functools.partial(_view, "anymail.webhooks.brevo.BrevoTrackingWebhookView"),
        {},
        ("webhook_secret",),
    ),
    "mailjet": (
        functools.partial(_view, "anymail.webhooks.mailjet.MailjetTrackingWebhookView"),
        {},
        ("webhook_secret",),
    ),
}
WEBHOOK_ESPS = tuple(sorted(_ESPS))


def webhook_credential_names(esp: str) -> tuple[str, ...]:
    """The credentials an ESP's tracking webhook is checked with (none for SES: SNS signs)."""
    if esp not in _ESPS:
        return ()
    names = {*_ESPS[esp][1].values(), *_ESPS[esp][2]} - {"sns"}
    return tuple(sorted(names | {"webhook_secret"}))


@functools.cache
def _view_class(esp: str):
    return _ESPS[esp][0]()


def anymail_webhook_events(
    esp: str, request: Any, *, credentials: dict[str, Any]
) -> list[FeedbackEvent]:
    """The events of one ESP callback, checked with the integration's credentials.

    Raises WebhookRefused (bad or missing signature or basic auth), WebhookNotConfigured (no
    secret to check it with) or WebhookMalformed (a body the ESP's parser refuses).
    """
    if esp not in _ESPS:
        raise WebhookNotConfigured(f"no tracking webhook for anymail:{esp}")
    _, options, authenticators = _ESPS[esp]
    if not any(name == "sns" or credentials.get(name) for name in authenticators):
        raise WebhookNotConfigured(
            f"set one of {', '.join(authenticators)} in the integration's credentials"
        )
    # Every option is given, so none is read from the platform's ANYMAIL settings.
    kwargs: dict[str, Any] = {"webhook_secret": credentials.get("webhook_secret") or []}
    for option, credential in options.items():
        kwargs[option] = credentials.get(credential) or None
    if esp == "mailgun":
        kwargs["webhook_signing_key"] = str(credentials["webhook_signing_key"])
        kwargs["api_key"] = None
    with warnings.catch_warnings():
        # Insecure-webhook and ESP-support warnings: the checks above decide instead.
        warnings.simplefilter("ignore", AnymailInsecureWebhookWarning)
        warnings.simplefilter("ignore", AnymailNotSupportedWarning)
        try:
            view = _view_class(esp)(**kwargs)
        except (AnymailError, ImproperlyConfigured, ValueError, TypeError) as exc:
            # A verification key that does not parse, a secret of the wrong shape.
            raise WebhookNotConfigured(f"anymail:{esp}: {type(exc).__name__}") from None
    collected: list[AnymailTrackingEvent] = []
    token = _collected.set(collected)
    try:
        response = view.dispatch(request)
    except AnymailWebhookValidationFailure as exc:
        raise WebhookRefused(str(exc)[:200]) from None
    except WebhookMalformed:
        raise
    except (AnymailError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise WebhookMalformed(f"anymail:{esp} could not parse the callback") from exc
    finally:
        _collected.reset(token)
    if isinstance(response, HttpResponse) and response.status_code == 401:
        # SNS asks without credentials first and retries with them after a 401.
        raise WebhookRefused("basic auth required")
    events = (feedback_from_anymail(esp, event) for event in collected)
    return [event for event in events if event is not None]


# --- Amazon SNS ----------------------------------------------------------------------------
#
# https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html

_SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),  # fmt: skip
}
_SIGNED_KEYS["UnsubscribeConfirmation"] = _SIGNED_KEYS["SubscriptionConfirmation"]
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


def sns_string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical text SNS signs: each present key and its value, one per line."""
    keys = _SIGNED_KEYS.get(message.get("Type", ""))
    if keys is None:
        raise AnymailWebhookValidationFailure("unknown SNS message type")
    lines = []
    for key in keys:
        if key in message and message[key] is not None:
            lines += [key, str(message[key])]
    return ("\n".join(lines) + "\n").encode()


def _sns_url_allowed(url: Any) -> bool:
    return (
        isinstance(url, str) and re.match(django_settings.CLARION_SNS_URL_PATTERN, url) is not None
    )


@functools.lru_cache(maxsize=32)
def _sns_certificate(url: str) -> x509.Certificate:
    """Amazon's signing certificate at `url` (fetched once per process)."""
    with guarded_session() as session:
        response = session.get(url, timeout=provider_timeout(), allow_redirects=False)
    if response.status_code != 200:
        raise AnymailWebhookValidationFailure("the SNS signing certificate is not available")
    return x509.load_pem_x509_certificate(response.content)


def sns_verify_signature(message: dict[str, Any]) -> None:
    """Check an SNS message's signature against the certificate it names (an Amazon URL
    only: CLARION_SNS_URL_PATTERN); raises AnymailWebhookValidationFailure."""
    algorithm = _HASHES.get(str(message.get("SignatureVersion", "")))
    cert_url = message.get("SigningCertURL")
    if algorithm is None or not _sns_url_allowed(cert_url) or not message.get("Signature"):
        raise AnymailWebhookValidationFailure("missing or unacceptable SNS signature")
    try:
        certificate = _sns_certificate(cert_url)
        signature = base64.b64decode(message["Signature"], validate=True)
        certificate.public_key().verify(
            signature, sns_string_to_sign(message), padding.PKCS1v15(), algorithm()
        )
    except (InvalidSignature, ValueError, TypeError, requests.RequestException, DestinationRefused):
        raise AnymailWebhookValidationFailure("invalid SNS signature") from None


_UNCONFIRMED = "the SNS subscription could not be confirmed"


def sns_fetch(url: Any) -> None:
    """Confirm an SNS subscription: GET its SubscribeURL (an Amazon URL only)."""
    if not _sns_url_allowed(url):
        raise AnymailWebhookValidationFailure("unacceptable SNS SubscribeURL")
    try:
        with guarded_session() as session:
            response = session.get(url, timeout=provider_timeout(), allow_redirects=False)
    except (requests.RequestException, DestinationRefused) as exc:
        raise WebhookMalformed(
            f"the SNS subscription could not be confirmed ({type(exc).__name__})"
        ) from None
    if response.status_code != 200:
        raise WebhookMalformed(
            f"the SNS subscription could not be confirmed (HTTP {response.status_code})"
        )
