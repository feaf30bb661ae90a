"""Pure: whether a refused handshake is a redirect to follow, and where it leads.

A server may answer the upgrade with 301, 302, 303, 307 or 308 and a ``Location``
(RFC 9110 section 15.4). The session follows it within the same attempt (a new stream
and handshake per hop, all under ``connect_timeout``); this module decides each hop:

* the ``Location`` is resolved against the URL that was asked (RFC 9110 section 10.2.2,
  RFC 3986 section 5); ``http`` and ``https`` count as ``ws`` and ``wss`` (as the
  WHATWG WebSockets standard maps them for ``new WebSocket(url)``: an HTTP front end
  redirects with HTTP URLs), and its fragment is dropped (a WebSocket request has none);
* ``wss://`` to ``ws://`` is refused (a TLS downgrade), and so are a loop (a URL this
  attempt already asked), more than :data:`MAX_REDIRECTS` hops, a ``Location`` that is
  no WebSocket URL or that carries userinfo, and a new host when
  ``connect(server_hostname=...)`` fixed the TLS name: :class:`tether.RedirectError`;
* a hop to another origin (scheme, host or port, RFC 6454) drops the credentials for
  the rest of the attempt: the ``Authorization`` the configured URL's userinfo makes,
  and the ``Authorization`` and ``Cookie`` of ``headers``
  (:data:`tether.policy.CREDENTIAL_HEADERS`); a same-origin hop keeps them.

Any other 3xx, or a redirect without ``Location``, stays a
:class:`tether.HandshakeRejected`, as the retry table has it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Final

import attrs

from ..exceptions import ConfigError, RedirectError
from ._url import WebSocketURL, parse_url, redact_url

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "Hop", "follow_redirect", "redirect_location"]

#: Statuses whose ``Location`` the handshake follows: Moved Permanently, Found, See
#: Other, Temporary Redirect, Permanent Redirect (RFC 9110 sections 15.4.2-15.4.9). 303
#: asks for a GET, which an upgrade always is. 300, 304 and 305 are not redirects to follow.
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
#: Redirects followed within one attempt; the 11th is refused. The ``websockets``
#: client's ``max_redirects`` default, and RFC 9110 section 15.4's warning that a
#: client should detect loops.
MAX_REDIRECTS: Final = 10
#: ``Location`` schemes taken as the WebSocket schemes.
_WEBSOCKET_SCHEMES: Final = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


@attrs.frozen
class Hop:
    """Where the next handshake of the attempt goes. ``url.authorization`` is what the
    configured URL's userinfo still sends there (``None`` once dropped); ``credentials``
    says whether ``headers``' ``Authorization`` and ``Cookie`` still go."""

    url: WebSocketURL
    credentials: bool


def redirect_location(status_code: int, headers: Mapping[str, str]) -> str | None:
    """The ``Location`` to follow when a handshake answered ``status_code`` with
    ``headers`` (names lower case) is a redirect tether follows
    (:data:`REDIRECT_STATUSES`), its surrounding spaces and tabs stripped; ``None``
    otherwise (another status, or no ``Location``): then the answer is the
    :class:`tether.HandshakeRejected` it was."""
    if status_code not in REDIRECT_STATUSES:
        return None
    location = headers.get("location")
    return None if location is None else location.strip(" \t")


def _origin(url: WebSocketURL) -> tuple[bool, str, int]:
    return url.tls, url.host.lower(), url.port


def _asked(url: WebSocketURL) -> tuple[bool, str, int, str]:
    return url.tls, url.host.lower(), url.port, url.resource


def _resolve(base: str, location: str, scheme: str) -> str:
    """``location`` resolved against ``base`` (its userinfo left out), the HTTP schemes
    as the WebSocket ones, without a fragment."""
    parts = urllib.parse.urlsplit(base)
    netloc = parts.netloc.rpartition("@")[2]
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    if scheme:
        location = _WEBSOCKET_SCHEMES.get(scheme, scheme) + location[len(scheme) :]
    resolved = urllib.parse.urljoin(base, location)
    return urllib.parse.urlsplit(resolved)._replace(fragment="").geturl()


def follow_redirect(
    chain: Sequence[WebSocketURL],
    location: str,
    *,
    credentials: bool = True,
    fixed_host: bool = False,
) -> Hop:
    """The next hop of an attempt redirected to ``location``.

    ``chain``: the URLs this attempt asked so far, the configured one first and the one
    that answered with the redirect last. ``credentials``: whether they still go (no
    cross-origin hop yet). ``fixed_host``: ``connect(server_hostname=...)`` was given,
    so the attempt may not change host. Raises :class:`tether.RedirectError` (see the
    module) whose ``hops`` are ``chain`` and the refused target, redacted.
    """
    current = chain[-1]
    asked = tuple(url.redacted for url in chain)
    shown_location = redact_url(location, loose=True)
    problem: str | None = None
    try:
        parts = urllib.parse.urlsplit(location)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        problem = "does not parse as a URL"
    else:
        if "@" in parts.netloc:
            problem = "carries userinfo (tether does not send credentials a server hands out)"
    if problem is not None:
        hops = (*asked, shown_location)
        raise RedirectError(
            f"cannot follow the redirect: its Location {problem}: {_chain(hops)}", hops
        )
    resolved = _resolve(current.url, location, parts.scheme.lower())
    try:
        target = parse_url(resolved)
    except ConfigError as error:
        problem = str(error).removeprefix("url: ")
    if problem is not None:
        hops = (*asked, redact_url(resolved))
        raise RedirectError(f"cannot follow the redirect: {problem}: {_chain(hops)}", hops)
    hops = (*asked, target.redacted)
    if len(chain) > MAX_REDIRECTS:
        raise RedirectError(f"more than {MAX_REDIRECTS} redirects: {_chain(hops)}", hops)
    if current.tls and not target.tls:
        raise RedirectError(
            f"refusing a redirect from wss:// to ws:// (a TLS downgrade): {_chain(hops)}", hops
        )
    if _asked(target) in {_asked(url) for url in chain}:
        raise RedirectError(f"redirect loop: {_chain(hops)}", hops)
    if fixed_host and target.host.lower() != chain[0].host.lower():
        raise RedirectError(
            "cannot follow a redirect to another host: server_hostname= names the TLS "
            f"server of {chain[0].host!r} only: {_chain(hops)}",
            hops,
        )
    if _origin(target) != _origin(current) or not credentials:
        return Hop(target, credentials=False)
    return Hop(attrs.evolve(target, authorization=current.authorization), credentials=True)


def _chain(hops: Sequence[str]) -> str:
    return " -> ".join(hops)
