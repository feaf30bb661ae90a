"""Pure: parse and validate WebSocket URLs (RFC 6455 section 3), and show them with
their secrets hidden (:func:`redact_url`)."""

from __future__ import annotations

import base64
import re
import urllib.parse

import attrs

from ..exceptions import ConfigError

__all__ = ["CREDENTIAL_NAMES", "HIDDEN", "WebSocketURL", "parse_url", "redact_url"]

#: Characters a request target may hold as they are (RFC 3986 section 2: unreserved,
#: reserved, and ``%`` of an existing escape).
_RESOURCE_SAFE = "/?#[]@!$&'()*+,;=:%~-._"
#: The userinfo of a URL (``//user:password@``): up to the last ``@`` before the query
#: (so a password with an unescaped ``/`` is hidden too; a path with an ``@`` in it
#: hides the host as well, which is safe).
_USERINFO = re.compile(r"(//)[^?#]*@")
#: The same, loosely, for a URL that is refused: up to the last ``@`` anywhere (a
#: password with an unescaped ``#`` or ``?`` in it must not show in the error).
_LOOSE_USERINFO = re.compile(r"(//).*@", re.DOTALL)
#: Query parameters whose values :func:`redact_url` hides: a name equal to one of these
#: or ending with one (``x-api-key``, ``auth_token``, ``idToken``), in any case.
CREDENTIAL_NAMES: tuple[str, ...] = (
    "token",
    "key",
    "secret",
    "signature",
    "sig",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "password",
    "passwd",
    "pass",
    "pwd",
    "session",
    "sessionid",
    "sid",
    "ticket",
    "code",
    "jwt",
    "access_token",
    "api_key",
    "apikey",
)
#: What a hidden secret is shown as.
HIDDEN = "***"


def redact_url(url: str, *, loose: bool = False) -> str:
    """``url`` as it may be shown (events, errors, reprs, the CLI): the userinfo, user
    name included (it may be a token), as ``***@``, and the value of each query parameter
    whose name looks like a credential (:data:`CREDENTIAL_NAMES`; the name is
    percent-decoded first) as ``***``; the rest as written. The userinfo runs to the
    last ``@`` before the query (a password may hold a ``/``). ``loose``, for a URL
    that is refused: to the last ``@`` anywhere (it may hold a ``#`` or ``?``). Pure;
    never raises for a ``str``."""
    pattern = _LOOSE_USERINFO if loose else _USERINFO
    shown = pattern.sub(rf"\1{HIDDEN}@", url, count=1)
    base, question, rest = shown.partition("?")
    if not question:
        return shown
    query, hash_, fragment = rest.partition("#")
    hidden = "&".join(_redact_parameter(item) for item in query.split("&"))
    return f"{base}?{hidden}{hash_}{fragment}"


def _redact_parameter(item: str) -> str:
    name, equals, _value = item.partition("=")
    if not equals:
        return item
    decoded = urllib.parse.unquote_plus(name).strip().lower()
    if decoded.endswith(CREDENTIAL_NAMES):
        return f"{name}={HIDDEN}"
    return item


@attrs.frozen
class WebSocketURL:
    """A validated ``ws://`` or ``wss://`` URL, split the way the handshake needs it:
    ``host`` (an IPv6 address without brackets), ``port`` (80 or 443 filled in),
    ``resource`` (path and query, ``/`` at least) and ``tls`` (``wss://``).

    ``authorization`` is the ``Authorization`` header value the URL's userinfo makes
    (``Basic base64(user:password)``, RFC 7617), or ``None`` without userinfo.
    ``redacted`` is ``url`` as it may be shown (:func:`redact_url`: no userinfo, no
    credential in the query), computed once at parse time; events, errors and reprs use
    it. ``url`` and ``resource`` (what is requested, unchanged) and ``authorization``
    are left out of the ``repr``.
    """

    url: str = attrs.field(repr=False)
    host: str
    port: int
    resource: str = attrs.field(repr=False)
    tls: bool
    authorization: str | None = attrs.field(default=None, repr=False)
    redacted: str = attrs.field(default="")

    def __attrs_post_init__(self) -> None:
        if not self.redacted:
            object.__setattr__(self, "redacted", redact_url(self.url))

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
    quote the URL redacted (:func:`redact_url`: ``ws://***@host/?token=***``)."""
    if not isinstance(url, str):
        raise ConfigError(f"url: must be a str, got {type(url).__name__}")
    shown = redact_url(url, loose=True)  # for the errors below
    problem: str | None = None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        problem = _reason(exc)
    if problem is not None:
        # Raised outside the except block: urllib's error (which may quote a password,
        # taken for a port) is not even the __context__.
        raise ConfigError(f"url: {shown!r} is malformed: {problem}")
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
        redacted=redact_url(url),
    )


def _reason(error: ValueError) -> str:
    """urllib's complaint without what it quotes (a port, a netloc: maybe a password)."""
    text = str(error)
    if "port" in text.lower():
        return "the port is not a number from 0 to 65535"
    if "ipv6" in text.lower() or "bracket" in text.lower():
        return "invalid IPv6 address (brackets)"
    return "it does not parse as a URL"


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
