"""What the HTTP connectors share: a pooled session with explicit timeouts, and the
classification of a provider's HTTP status as a transient or a permanent error."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from connectors.base import (
    Connector,
    ConnectorError,
    DestinationRefused,
    PermanentError,
    Recipient,
    TransientError,
    connect_checked,
    ensure_public_destination,
    is_http_url,
    provider_timeout,
    redact,
)

# --- the outbound-destination guard for HTTP (see connectors.base) ---------------------------


class _CheckedConnectionMixin:
    """urllib3's `_new_conn`, connecting only to addresses the guard has checked.

    The URL's host is resolved once per connection; TLS still verifies the certificate
    and sends SNI for the host name (`self.host`), not for the address connected to.
    """

    def _new_conn(self) -> socket.socket:
        try:
            sock = connect_checked(
                self._dns_host,
                self.port,
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        return sock


class CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests transport whose connections go only to addresses the guard accepts.

    A refused destination raises `DestinationRefused` (a PermanentError) before any
    connection is made. Through a proxy (HTTPS_PROXY) the socket goes to the proxy, so the
    URL's host is checked before the request instead; the proxy resolves it again.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": CheckedHTTPConnectionPool,
            "https": CheckedHTTPSConnectionPool,
        }

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if select_proxy(request.url, kwargs.get("proxies")):
            ensure_public_destination(request.url, what="proxied request")
        return super().send(request, **kwargs)


def guard_session(session: requests.Session) -> requests.Session:
    """Route every http(s) request of `session` through the destination guard."""
    adapter = GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def guarded_session() -> requests.Session:
    """A new `requests.Session` behind the destination guard."""
    return guard_session(requests.Session())


class HttpConnector(Connector):
    """A connector that speaks HTTP through `requests`, with explicit timeouts everywhere.

    `session()` keeps one `requests.Session` (a keep-alive connection pool) for the batch.
    """

    _http: requests.Session | None = None

    @contextmanager
    def session(self) -> Iterator[Connector]:
        """Reuse one pooled HTTP session (keep-alive connections) for the whole batch."""
        self._http = guarded_session()
        try:
            yield self
        finally:
            self._http.close()
            self._http = None

    def _post(self, url: str, *, what: str, **kwargs: Any) -> requests.Response:
        """POST with the provider timeouts; a network failure raises TransientError.

        The connection goes through the destination guard: a refused one raises
        DestinationRefused before connecting. NOTE: messages never include the URL: webhook
        URLs (Slack's in particular) are secrets.
        """
        kwargs.setdefault("timeout", provider_timeout())
        # A redirected POST is not a delivery; a 3xx is reported instead.
        kwargs.setdefault("allow_redirects", False)
        http = self._http
        try:
            if http is None:
                with guarded_session() as one_off:
                    return one_off.post(url, **kwargs)
            return http.post(url, **kwargs)
        except DestinationRefused as exc:
            raise DestinationRefused(f"{what}: {exc}") from None
        except requests.Timeout:
            raise TransientError(f"{what}: timed out") from None
        except requests.ConnectionError:
            raise TransientError(f"{what}: connection failed") from None
        except requests.RequestException as exc:  # invalid URL, schema, headers...
            raise PermanentError(f"{what}: {type(exc).__name__}") from None


def webhook_target_url(recipient: Recipient, default: str) -> str:
    """The subscriber's own `webhook_url` credential, else the integration's `default` URL."""
    url = recipient.credentials.get("webhook_url") or default
    if not url:
        raise PermanentError("no webhook URL: neither the subscriber nor the integration has one")
    if not is_http_url(url):
        raise PermanentError("the webhook URL is not an http(s) URL")
    return url


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def is_transient_status(status: int) -> bool:
    """408 (request timeout), 429 (too many requests) and 5xx are worth retrying."""
    return status in (408, 429) or status >= 500


def status_error(status: int, text: str, retry_after: str | None = None) -> ConnectorError:
    """The error for a provider's non-success HTTP status; `retry_after` is the raw header."""
    if is_transient_status(status):
        return TransientError(
            text, response_code=status, retry_after=retry_after_seconds(retry_after)
        )
    return PermanentError(text, response_code=status)


def http_error(response: requests.Response, what: str, detail: str = "") -> ConnectorError:
    """Classify a non-2xx HTTP response: 408, 429 and 5xx are transient, the rest permanent."""
    status = response.status_code
    text = f"{what}: HTTP {status}" + (f" {redact(detail)}" if detail else "")
    if 300 <= status < 400:
        text += " (redirects are not followed)"
    return status_error(status, text, response.headers.get("Retry-After"))


def json_object(response: Any) -> dict[str, Any]:
    """A provider response's JSON body when it is an object, else {} (no body, not JSON, a list)."""
    try:
        body = response.json()
    except (AttributeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}
