"""Pure: parse and validate WebSocket URLs (RFC 6455 section 3)."""

from __future__ import annotations

import urllib.parse

import attrs

from ..exceptions import ConfigError

__all__ = ["WebSocketURL", "parse_url"]

#: Characters a request target may hold as they are (RFC 3986 section 2: unreserved,
#: reserved, and ``%`` of an existing escape).
_RESOURCE_SAFE = "/?#[]@!$&'()*+,;=:%~-._"


@attrs.frozen
class WebSocketURL:
    """A validated ``ws://`` or ``wss://`` URL, split the way the handshake needs it."""

    url: str
    host: str
    port: int
    resource: str
    tls: bool

    @property
    def host_header(self) -> str:
        """The ``Host`` header: ``host[:port]``, the port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: object) -> WebSocketURL:
    """Validate ``url`` and split it. Raises :class:`ConfigError` naming what is wrong:
    not a string, a scheme other than ``ws``/``wss``, no host, a bad port, a fragment."""
    if not isinstance(url, str):
        raise ConfigError(f"url: must be a str, got {url!r}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"url: {url!r} is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ConfigError(f"url: scheme must be ws:// or wss://, got {url!r}")
    if not parts.hostname:
        raise ConfigError(f"url: {url!r} has no host")
    if parts.fragment:
        raise ConfigError(f"url: {url!r} has a fragment, which WebSocket URLs must not have")
    tls = scheme == "wss"
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    # The request line is ASCII (RFC 9112 section 3.2): percent-encode anything else as
    # UTF-8, keeping escapes and reserved characters as written.
    resource = urllib.parse.quote(resource, safe=_RESOURCE_SAFE)
    return WebSocketURL(
        url=url,
        host=parts.hostname,
        port=port if port is not None else (443 if tls else 80),
        resource=resource,
        tls=tls,
    )
