"""Tunnels through a proxy: HTTP CONNECT (``http://``, ``https://``), SOCKS4/4a and
SOCKS5/5h, spoken by python-socks (its Trio backend) over a stream we open and watch.

We open the TCP connection to the proxy ourselves and hand it to python-socks as its
``forward`` hop, for three reasons: the socket gets tether's options (keepalive,
``TCP_USER_TIMEOUT``); an HTTP proxy's answer is read up to its blank line however the
proxy splits it (python-socks reads once); and we see where a SOCKS5 exchange stopped,
so a proxy that closes the connection once it has read our user name and password (RFC
1929 says it must close after a failure; some, pproxy among them, send no status first)
is an authentication failure, not a transient drop. python-socks' errors are mapped to
:class:`tether.ProxyError` here, at the layer's edge; no message quotes a credential.
"""

from __future__ import annotations

import math
import ssl
from typing import Any

import trio
from python_socks import ProxyError as SocksError
from python_socks import ProxyType
from python_socks.async_.trio.v2 import Proxy as SocksProxy

from ..exceptions import ProxyAuthenticationError, ProxyError
from ..policy import ProxyURL

__all__ = ["open_tunnel"]

_TYPES = {"http": ProxyType.HTTP, "socks4": ProxyType.SOCKS4, "socks5": ProxyType.SOCKS5}
#: The most an HTTP proxy's answer to CONNECT may be, headers included.
_MAX_ANSWER = 16 * 1024
#: SOCKS5 (RFC 1928): the method reply choosing user name and password, the reply that
#: accepts none of the offered methods, and RFC 1929's success status.
_USER_PASSWORD_CHOSEN = b"\x05\x02"
_NO_ACCEPTABLE_METHOD = b"\x05\xff"
_AUTH_GRANTED = b"\x01\x00"


class _ProxyClosed(Exception):
    """The proxy closed the connection in the middle of the exchange."""


class _AnswerTooLong(Exception):
    """An HTTP proxy's answer to CONNECT went past :data:`_MAX_ANSWER` without its end."""


class _Record:
    """What the proxy sent during the exchange, and what came past an HTTP answer."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.leftover = b""


class _WatchedStream:
    """python-socks' stream interface (``write``, ``read``, ``read_exactly``,
    ``start_tls``, ``close``, ``trio_stream``) over a Trio stream, recording what it
    reads."""

    def __init__(self, stream: trio.abc.Stream, record: _Record, http: bool) -> None:
        self.trio_stream = stream
        self._record = record
        self._http = http

    async def write(self, data: bytes) -> None:
        await self.trio_stream.send_all(data)

    async def _receive(self, size: int) -> bytes:
        data = await self.trio_stream.receive_some(size)
        if not data:
            raise _ProxyClosed
        self._record.received += data
        return bytes(data)

    async def read(self, max_bytes: int = 65536) -> bytes:
        if not self._http:
            return await self._receive(max_bytes)
        # An HTTP answer: up to its blank line, however the proxy split it.
        answer = bytearray()
        while b"\r\n\r\n" not in answer:
            if len(answer) > _MAX_ANSWER:
                # Not a tunnel: what follows is the rest of the answer, not the target.
                raise _AnswerTooLong
            answer += await self._receive(_MAX_ANSWER)
        head, blank, rest = bytes(answer).partition(b"\r\n\r\n")
        self._record.leftover = rest
        return head + blank

    async def read_exactly(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            data += await self._receive(n - len(data))
        return bytes(data)

    async def start_tls(self, hostname: str, ssl_context: ssl.SSLContext) -> _WatchedStream:
        tls = trio.SSLStream(
            self.trio_stream, ssl_context, server_hostname=hostname, https_compatible=True
        )
        await tls.do_handshake()
        return _WatchedStream(tls, self._record, self._http)

    async def close(self) -> None:
        await trio.aclose_forcefully(self.trio_stream)


class _FirstHop:
    """python-socks' ``forward`` hop: hands it the stream to the proxy we opened."""

    def __init__(self, stream: _WatchedStream) -> None:
        self._stream = stream

    async def connect(self, dest_host: str, dest_port: int, **_: Any) -> _WatchedStream:
        return self._stream


async def open_tunnel(
    proxy: ProxyURL,
    to_proxy: trio.abc.Stream,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
) -> trio.abc.Stream:
    """Over ``to_proxy`` (a stream to the proxy, which this takes over: it is closed on
    failure), TLS to the proxy for ``https://``, then ask it for a tunnel to
    ``host:port``; return the stream that is now the tunnel (bytes to and from the
    target). Unbounded in time: the caller's ``connect_timeout`` bounds it.

    Raises :class:`tether.ProxyAuthenticationError` (407, SOCKS credentials refused or
    required), :class:`tether.ProxyError` (any other refusal, with its ``code``, or a
    proxy that broke off the exchange), ``ssl.SSLCertVerificationError`` for an
    ``https://`` proxy whose certificate does not verify. Cancellation: safe; the
    stream is closed."""
    record = _Record()
    watched = _WatchedStream(to_proxy, record, http=proxy.kind == "http")
    socks = SocksProxy(
        _TYPES[proxy.kind],
        proxy.host,
        proxy.port,
        username=proxy.username,
        password=proxy.password,
        rdns=proxy.remote_dns,
        proxy_ssl=(ssl_context or ssl.create_default_context()) if proxy.tls else None,
        forward=_FirstHop(watched),  # type: ignore[arg-type]  # duck-typed hop, see above
    )

    def fail(message: str, code: int | None = None) -> ProxyError:
        auth = _authentication_failure(proxy, record, code)
        if auth is not None:
            return ProxyAuthenticationError(
                f"proxy {proxy.redacted} {auth}", proxy=proxy.redacted, kind=proxy.kind, code=code
            )
        return ProxyError(
            f"proxy {proxy.redacted} {message}", proxy=proxy.redacted, kind=proxy.kind, code=code
        )

    try:
        tunnel = await socks.connect(host, port, timeout=math.inf)
    except SocksError as exc:
        code = exc.error_code if isinstance(exc.error_code, int) else None
        raise fail(f"refused the tunnel to {host}:{port}: {exc}", code) from exc
    except _ProxyClosed:
        await trio.aclose_forcefully(to_proxy)
        raise fail("closed the connection during the proxy handshake") from None
    except _AnswerTooLong:
        await trio.aclose_forcefully(to_proxy)
        raise fail(
            f"sent an answer to CONNECT of over {_MAX_ANSWER} bytes without its end"
        ) from None
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(to_proxy)
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise cause from None
        raise fail(f"broke the connection during the proxy handshake: {cause or exc!r}") from exc
    except BaseException:
        await trio.aclose_forcefully(to_proxy)
        raise
    if record.leftover:
        await trio.aclose_forcefully(to_proxy)
        raise fail(f"sent {len(record.leftover)} bytes past its answer to CONNECT")
    stream = tunnel.trio_stream
    assert isinstance(stream, trio.abc.Stream)
    return stream


def _authentication_failure(proxy: ProxyURL, record: _Record, code: int | None) -> str | None:
    """Why the exchange so far is an authentication failure, or ``None``."""
    if proxy.kind == "http":
        if code == 407:
            return "requires authentication (407)" + (
                ": the credentials were refused" if proxy.username else ""
            )
        return None
    if proxy.kind == "socks4":
        return "refused the user id" if code in (92, 93) and proxy.username else None
    received = bytes(record.received)
    if received[:2] == _NO_ACCEPTABLE_METHOD:
        if proxy.username:
            return "accepts none of the authentication methods offered (no user name and password)"
        return "requires a user name and password"
    if received[:2] == _USER_PASSWORD_CHOSEN and received[2:4] != _AUTH_GRANTED:
        return "refused the user name and password"
    return None
