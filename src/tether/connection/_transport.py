"""The transport seam: stream openers below the WebSocket connection.

An *opener* is ``async (host: str, port: int, tls: bool) -> trio.abc.Stream``. The session
calls it once per connect attempt, under ``Config.connect_timeout``, and speaks the
WebSocket protocol over whatever stream it returns. The default, :class:`TcpOpener`,
opens TCP (Happy Eyeballs, via ``trio.open_tcp_stream``), sets keepalive options, and
wraps the stream in TLS for ``wss://``; given a proxy, it opens TCP to the proxy, asks it
for a tunnel (``_proxy.py``), and runs TLS to the target through the tunnel.
:class:`UnixOpener` connects to a Unix domain socket instead
(``connect(unix_socket=...)``), TLS likewise. ``tether.testing`` passes in-memory
openers; a fault-injecting or write-coalescing wrapper plugs in the same way.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable

import attrs
import trio

from ..exceptions import ProxyError
from ..policy import ProxyURL, parse_proxy_url
from ._errors import tls_error
from ._proxy import open_tunnel

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["Opener", "TcpOpener", "UnixOpener", "set_socket_options"]

#: The transport seam: ``async opener(host, port, tls) -> trio.abc.Stream``, called once
#: per connect attempt and per redirect hop, within ``Config.connect_timeout``. ``host``
#: and ``port`` come from the URL (the port filled in: 80 for ``ws://``, 443 for
#: ``wss://``); ``tls`` is true for ``wss://``, and the stream returned must then already
#: speak TLS. What it raises is classified by the retry policy like any error of
#: connecting (an ``OSError`` is retried). Pass one as ``connect(opener=...)``:
#: :class:`TcpOpener` is the default, :class:`UnixOpener` reaches a Unix domain socket,
#: ``tether.testing.MemoryServer.opener`` an in-memory server.
Opener = Callable[[str, int, bool], Awaitable[trio.abc.Stream]]

#: TCP keepalive (seconds idle before the first probe, between probes, probes before the
#: kernel declares the peer dead), and TCP_USER_TIMEOUT (milliseconds unacknowledged data
#: may linger, Linux, RFC 5482). They bound how long a write to a vanished peer can
#: hang, below the WebSocket pings that normally notice first.
KEEPALIVE_IDLE = 30
KEEPALIVE_INTERVAL = 10
KEEPALIVE_PROBES = 3
USER_TIMEOUT_MS = 60_000


def set_socket_options(sock: trio.socket.SocketType) -> None:
    """Enable TCP keepalive and TCP_USER_TIMEOUT where the platform has them; disable
    Nagle (trio already sets TCP_NODELAY on streams it opens; this is idempotent)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
        ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
        ("TCP_NODELAY", 1),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _single_cause(error: OSError) -> OSError:
    """``trio.open_tcp_stream`` reports "all attempts to connect failed" with the
    per-address errors in a group as ``__cause__``. When they all have one errno (one
    address refused, say), return the first: ``ConnectionRefusedError`` says more, and
    is what the retry table and ``BackingOff.error`` are about."""
    cause = error.__cause__
    if not isinstance(cause, BaseExceptionGroup):
        return error
    leaves = [leaf for leaf in cause.exceptions if isinstance(leaf, OSError)]
    same_errno = len({leaf.errno for leaf in leaves}) == 1
    if leaves and len(leaves) == len(cause.exceptions) and same_errno:
        return leaves[0]
    return error


def _proxy_url(value: ProxyURL | str | None) -> ProxyURL | None:
    if value is None or isinstance(value, ProxyURL):
        return value
    return parse_proxy_url(value)


@attrs.frozen
class TcpOpener:
    """The default opener: TCP to ``host:port`` (or through ``proxy``), then TLS when
    ``tls`` is true.

    ``ssl_context`` defaults to ``ssl.create_default_context()`` (certificate and
    hostname verification on). ``server_hostname`` (default ``None``: the ``host`` it is
    called with) is the name sent in SNI and checked against the certificate, for a
    ``host`` that is an address (``wss://127.0.0.1:8443/`` serving ``example.test``);
    it is used for every call, and ignored without TLS.
    A certificate verification failure surfaces as
    ``ssl.SSLCertVerificationError``, which the default policy does not retry. Any
    other TLS handshake failure raises an error named by its SSL error (``TLS handshake
    failed: [SSL: ...] ...``, the ``ssl.SSLError`` as ``__cause__``): a
    ``ConnectionError`` (retried), or :class:`tether.IncompatibleServer` (not retried)
    when the server sent no TLS at all, as a plain ``ws://`` server does.

    ``proxy``: ``None`` (default) connects directly; a proxy URL (``str``, checked at
    construction: ``ConfigError``; or a parsed :class:`tether.policy.ProxyURL`) tunnels
    every connection through it: ``http://`` and ``https://`` by HTTP ``CONNECT``
    (userinfo as ``Proxy-Authorization: Basic``; ``ssl_context`` also verifies an
    ``https://`` proxy), ``socks5://`` (the name resolved here), ``socks5h://`` (by the
    proxy), ``socks4://``, ``socks4a://``. TLS to a ``wss://`` target then runs inside
    the tunnel, with SNI and certificate checks for the target's ``host`` (or
    ``server_hostname``). A proxy that
    cannot be reached or refuses the tunnel raises :class:`tether.ProxyError` (its
    ``__cause__`` the error below), refused credentials
    :class:`tether.ProxyAuthenticationError`; see the retry table.
    Cancellation: safe at any point; a half-open stream is closed.
    """

    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    proxy: ProxyURL | None = attrs.field(default=None, converter=_proxy_url)

    async def __call__(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        """Open a stream to ``host:port`` (through the proxy, if any), TLS when ``tls``.

        Raises ``OSError`` (refused, unreachable, DNS failure), the TLS errors and
        :class:`tether.ProxyError` above. No timeout of its own: the session calls it
        within ``Config.connect_timeout``."""
        proxy = self.proxy
        try:
            if proxy is None:
                tcp = await trio.open_tcp_stream(host, port)
            else:
                tcp = await trio.open_tcp_stream(proxy.host, proxy.port)
        except OSError as exc:
            error = _single_cause(exc)
            if proxy is None:
                raise error from exc.__cause__
            raise ProxyError(
                f"proxy {proxy.redacted} unreachable: {error}",
                proxy=proxy.redacted,
                kind=proxy.kind,
            ) from error
        stream: trio.abc.Stream = tcp
        try:
            set_socket_options(tcp.socket)
            if proxy is not None:
                stream = await open_tunnel(proxy, tcp, host, port, self.ssl_context)
            if not tls:
                return stream
            name = host if self.server_hostname is None else self.server_hostname
            return await _start_tls(stream, name, self.ssl_context)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise


async def _start_tls(
    stream: trio.abc.Stream, host: str, ssl_context: ssl.SSLContext | None
) -> trio.SSLStream[trio.abc.Stream]:
    """TLS over ``stream`` with ``host`` as the server name (SNI, and the name the
    certificate must have), the errors named as :class:`TcpOpener` documents."""
    context = ssl_context or ssl.create_default_context()
    tls = trio.SSLStream(stream, context, server_hostname=host, https_compatible=True)
    try:
        await tls.do_handshake()
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise cause from None
        if isinstance(cause, ssl.SSLError):
            raise tls_error(cause) from cause
        raise
    return tls


@attrs.frozen
class UnixOpener:
    """An opener that connects to the Unix domain socket at ``path``, whatever the
    URL's host and port (the URL still gives the ``Host`` header and the resource), then
    does TLS when ``tls`` (a ``wss://`` URL), with the URL's host (or
    ``server_hostname``, default ``None``) as the server name that the certificate must
    match.

    ``ssl_context`` defaults to ``ssl.create_default_context()``; TLS errors are those
    of :class:`TcpOpener`. A socket that is missing (``FileNotFoundError``) or that
    nobody listens on (``ConnectionRefusedError``) is an ``OSError``, retried by the
    default policy, as a refused TCP connection is. Unix-like systems only (Trio's
    ``open_unix_socket``: ``RuntimeError`` elsewhere). Cancellation: safe at any point;
    a half-open stream is closed.
    """

    path: str | os.PathLike[str]
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None

    async def __call__(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        """Open a stream to the socket at ``path`` (``port`` is ignored), TLS for
        ``host`` when ``tls``. Raises ``OSError`` and the TLS errors above; no timeout
        of its own (the session calls it within ``Config.connect_timeout``)."""
        stream = await trio.open_unix_socket(self.path)
        if not tls:
            return stream
        try:
            name = host if self.server_hostname is None else self.server_hostname
            return await _start_tls(stream, name, self.ssl_context)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
