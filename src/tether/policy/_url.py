"""Pure: parse and validate WebSocket URLs (RFC 6455 section 3)."""

from __future__ import annotations

import base64
import re
import urllib.parse

import attrs

from ..exceptions import ConfigError

__all__ = ["WebSocketURL", "parse_url"]

#: Characters a request target may hold as they are (RFC 3986 section 2: unreserved,
#: reserved, and ``%`` of an existing escape).
_RESOURCE_SAFE = "/?#[]@!$&'()*+,;=:%~-._"
#: The userinfo of a URL (``//user:password@``), hidden in error messages.
_USERINFO = re.compile(r"(//)[^/?#]*@")


@attrs.frozen
class WebSocketURL:
    """A validated ``ws://`` or ``wss://`` URL, split the way the handshake needs it.

    ``authorization`` is the ``Authorization`` header value the URL's userinfo makes
    (``Basic base64(user:password)``, RFC 7617), or ``None`` without userinfo; it is
    left out of the ``repr``.
    """

    url: str
    host: str
    port: int
    resource: str
    tls: bool
    authorization: str | None = attrs.field(default=None, repr=False)

    @property
    def host_header(self) -> str:
        """The ``Host`` header: ``host[:port]``, the port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: object) -> WebSocketURL:
    """Validate ``url`` and split it. Raises :class:`ConfigError` naming what is wrong:
    not a string, a scheme other than ``ws``/``wss``, no host, a bad port (port 0
    included), a fragment, a user name without a password or with a ``:``. Messages
    quote the URL with its userinfo hidden (``ws://***@host/``)."""
    if not isinstance(url, str):
        raise ConfigError(f"url: must be a str, got {type(url).__name__}")
    shown = _USERINFO.sub(r"\1***@", url)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"url: {shown!r} is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ConfigError(f"url: scheme must be ws:// or wss://, got {shown!r}")
    if not parts.hostname:
        raise ConfigError(f"url: {shown!r} has no host")
    if port == 0:
        raise ConfigError(f"url: port 0 cannot be connected to, in {shown!r}")
    if parts.fragment:
        raise ConfigError(f"url: {shown!r} has a fragment, which WebSocket URLs must not have")
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
        authorization=_basic_authorization(parts, shown),
    )


def _basic_authorization(parts: urllib.parse.SplitResult, shown: str) -> str | None:
    """``Basic base64(user:password)`` from the userinfo, percent-decoded, in UTF-8 (as
    the ``websockets`` client does); ``None`` without userinfo."""
    if parts.username is None:
        return None
    if parts.password is None:
        raise ConfigError(
            f"url: a user name without a password in {shown!r} (write user:password@, "
            "or send an Authorization header)"
        )
    user = urllib.parse.unquote(parts.username)
    if ":" in user:
        raise ConfigError(f"url: the user name must not contain ':' (RFC 7617), in {shown!r}")
    credentials = f"{user}:{urllib.parse.unquote(parts.password)}"
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
