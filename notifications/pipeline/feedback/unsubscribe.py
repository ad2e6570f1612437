"""One-click unsubscribe links for non-critical email (RFC 8058, RFC 2369).

An email carries `List-Unsubscribe: <https://<tenant host>/u/<token>>` (and, when
UNSUBSCRIBE_MAILTO is set, `<mailto:...?subject=unsubscribe%20<token>>`) with
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The token is signed (Django's signing,
HMAC with SECRET_KEY) and salted with the tenant's schema: it names the subscriber, the
workflow and the channel, and a forged, altered or other tenant's token does not verify.
https://www.rfc-editor.org/rfc/rfc8058
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.db import connection

from notifications.pipeline.feedback.provider import tenant_base_url

UNSUBSCRIBE_PATH = "/u/"


@dataclass(frozen=True)
class UnsubscribeTarget:
    subscriber_id: str
    workflow_key: str
    channel: str


def _salt(schema: str) -> str:
    return f"clarion.unsubscribe.{schema}"


def unsubscribe_token(*, subscriber_id: str, workflow_key: str, channel: str) -> str:
    """The signed token for one subscriber, workflow and channel in the current tenant."""
    return signing.dumps(
        [subscriber_id, workflow_key, channel],
        salt=_salt(connection.schema_name),
        compress=True,
    )


def unsubscribe_token_read(token: str) -> UnsubscribeTarget | None:
    """What a token names, or None when it does not verify in the current tenant."""
    try:
        value = signing.loads(token, salt=_salt(connection.schema_name))
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) for v in value)):
        return None
    return UnsubscribeTarget(*value)


def unsubscribe_url(token: str, *, base_url: str | None = None) -> str:
    """The URL of the one-click page for `token`, on the tenant's primary host."""
    return f"{base_url or tenant_base_url()}{UNSUBSCRIBE_PATH}{token}"


def unsubscribe_headers(
    *, subscriber_id: str, workflow_key: str, channel: str, base_url: str | None = None
) -> dict[str, str]:
    """The List-Unsubscribe headers of one email (`base_url`: the tenant's, if known)."""
    token = unsubscribe_token(
        subscriber_id=subscriber_id, workflow_key=workflow_key, channel=channel
    )
    links = [f"<{unsubscribe_url(token, base_url=base_url)}>"]
    if settings.UNSUBSCRIBE_MAILTO:
        subject = quote(f"unsubscribe {token}")
        links.append(f"<mailto:{settings.UNSUBSCRIBE_MAILTO}?subject={subject}>")
    return {
        "List-Unsubscribe": ", ".join(links),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
