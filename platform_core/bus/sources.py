"""`--source` URLs: a server URL whose last path segment names the stream or queue.

- `redis://[:password@]host:6379[/db]/<stream>` (also `rediss://`), or
  `unix:///path/to/redis.sock/<stream>?db=1` for a Unix socket;
- `amqp://user:password@host:5672[/vhost]/<queue>` (also `amqps://`); `amqp://host//<queue>`
  and `amqp://host/<queue>` name the default vhost `/`.

The name may be percent-encoded (`%2F` for a `/` inside it).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

REDIS_SCHEMES = ("redis", "rediss", "unix")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


class SourceError(ValueError):
    """A --source that names no stream or queue, or an unknown kind of server."""


@dataclass(frozen=True)
class Source:
    kind: str  # "redis" or "amqp"
    server_url: str  # the URL a client connects with (no stream or queue in it)
    name: str  # the stream or queue

    def __str__(self) -> str:
        parts = urlsplit(self.server_url)
        host = parts.hostname or parts.path
        return f"{self.kind}:{host}/{self.name}"


def source_parse(url: str) -> Source:
    """The server and the stream or queue named by a --source URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in REDIS_SCHEMES + AMQP_SCHEMES:
        raise SourceError(
            f"--source must start with redis://, rediss://, unix:// or amqp://, not {url!r}"
        )
    head, _, last = parts.path.rpartition("/")
    name = unquote(last)
    if not name or not parts.path.startswith("/"):
        raise SourceError(f"--source must end with /<stream or queue name>: {url!r}")
    if scheme in REDIS_SCHEMES:
        if scheme == "unix" and not head:
            raise SourceError(f"a unix:// source is unix:///path/to/socket/<stream>: {url!r}")
        server = urlunsplit(parts._replace(path=head))
        if scheme == "unix":  # urlunsplit drops the empty authority: unix:/path
            server = f"unix://{head}" + (f"?{parts.query}" if parts.query else "")
        return Source(kind="redis", server_url=server, name=name)
    vhost = unquote(head[1:]) if head else ""
    vhost_path = "//" if vhost in ("", "/") else "/" + quote(vhost, safe="")
    server = urlunsplit(parts._replace(path=vhost_path))
    return Source(kind="amqp", server_url=server, name=name)
