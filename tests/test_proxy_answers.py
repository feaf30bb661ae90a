"""Proxies that answer the tunnel request wrongly, scripted byte by byte on 127.0.0.1:
an HTTP proxy that sends more than its answer to ``CONNECT`` or an answer without end,
SOCKS4 and SOCKS5 proxies that refuse (credentials or otherwise), an ``https://`` proxy
whose certificate does not verify or that does not speak TLS. Each test checks the
error a session gives up with (type, ``code``, message) and whether the default retry
table retried it (``Connecting`` events), against tests/test_proxies.py's real pproxy
for the proxies that work.

Real time, every wait bounded; nothing sleeps.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
import trustme

import tether
from tether import Backoff, Config, events
from tether.connection._proxy import _Record, _WatchedStream

pytestmark = pytest.mark.loopback

#: Three attempts, close together: a retried error makes three, a fatal one one.
CONFIG = Config(connect_timeout=5, max_attempts=3, backoff=Backoff(initial=0.01, maximum=0.02))
#: A target the proxy is asked for; nothing is ever connected to it.
TARGET = "ws://localhost:9/"


class Peer:
    """The proxy's side of one connection: read exactly what the client sent."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = await self.stream.receive_some()
            if not chunk:
                raise EOFError
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def through(self, delimiter: bytes) -> bytes:
        """Up to and including ``delimiter``."""
        while delimiter not in self._buffer:
            chunk = await self.stream.receive_some()
            if not chunk:
                raise EOFError
            self._buffer += chunk
        return await self.exactly(self._buffer.index(delimiter) + len(delimiter))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)


Script = Callable[[Peer], Awaitable[None]]


async def serve(
    nursery: trio.Nursery, script: Script, tls: ssl.SSLContext | None = None
) -> tuple[int, list[Peer]]:
    """A proxy on 127.0.0.1 running ``script`` on each connection (over TLS with
    ``tls``); its port and the connections so far. After the script, it holds the
    connection open until the client closes it."""
    peers: list[Peer] = []

    async def handle(stream: trio.SocketStream) -> None:
        wrapped: trio.abc.Stream = stream
        if tls is not None:
            wrapped = trio.SSLStream(stream, tls, server_side=True)
        peer = Peer(wrapped)
        peers.append(peer)
        try:
            await script(peer)
            while await wrapped.receive_some():
                pass
        except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    listeners = await nursery.start(functools.partial(trio.serve_tcp, host="127.0.0.1"), handle, 0)
    return int(listeners[0].socket.getsockname()[1]), peers


class Attempts:
    def __init__(self) -> None:
        self.connecting = 0

    def __call__(self, event: events.Event) -> None:
        self.connecting += isinstance(event, events.Connecting)


async def give_up(proxy: str, target: str = TARGET, **kwargs: object) -> tuple[Exception, int]:
    """Connect through ``proxy`` until the session gives up; its last error and the
    number of attempts."""
    attempts = Attempts()
    with trio.fail_after(20), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(
            target,
            config=CONFIG,
            proxy=proxy,
            on_event=attempts,
            **kwargs,  # type: ignore[arg-type]
        ):
            pass
    error = raised.value.__cause__
    assert isinstance(error, Exception)
    return error, attempts.connecting


# ------------------------------------------------------------------ HTTP CONNECT


async def test_bytes_past_the_connect_answer_are_not_a_tunnel(nursery: trio.Nursery) -> None:
    async def answer_and_more(peer: Peer) -> None:
        request = await peer.through(b"\r\n\r\n")
        assert request.startswith(b"CONNECT localhost:9 HTTP/1.1\r\n")
        await peer.send(b"HTTP/1.1 200 Connection established\r\n\r\nEXTRA")

    port, _ = await serve(nursery, answer_and_more)
    error, attempts = await give_up(f"http://127.0.0.1:{port}")
    assert type(error) is tether.ProxyError
    assert str(error) == f"proxy http://127.0.0.1:{port} sent 5 bytes past its answer to CONNECT"
    assert (error.kind, error.code) == ("http", None)
    assert attempts == 3  # retried: another attempt may find a sane proxy


async def test_a_connect_answer_without_end_is_refused_past_16_kib(
    nursery: trio.Nursery,
) -> None:
    """Regression: an answer over the limit used to be taken as a tunnel, its status line
    as the proxy's consent, and the rest of its headers as the server's handshake
    ("malformed HTTP response to the upgrade")."""

    async def endless_headers(peer: Peer) -> None:
        await peer.through(b"\r\n\r\n")
        await peer.send(b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 40_000 + b"\r\n\r\n")

    port, _ = await serve(nursery, endless_headers)
    error, attempts = await give_up(f"http://127.0.0.1:{port}")
    assert type(error) is tether.ProxyError
    assert str(error) == (
        f"proxy http://127.0.0.1:{port} sent an answer to CONNECT of over 16384 bytes"
        " without its end"
    )
    assert error.code is None and attempts == 3


async def test_a_connect_answer_of_exactly_16_kib_is_read_whole(nursery: trio.Nursery) -> None:
    """The limit's edge: 16384 bytes and its blank line still make an answer (here a
    502, retried, with its code)."""

    async def long_refusal(peer: Peer) -> None:
        await peer.through(b"\r\n\r\n")
        head = b"HTTP/1.1 502 Bad Gateway\r\nX-Padding: "
        await peer.send(head + b"a" * (16384 - len(head) - 4) + b"\r\n\r\n")

    port, _ = await serve(nursery, long_refusal)
    error, attempts = await give_up(f"http://127.0.0.1:{port}")
    assert type(error) is tether.ProxyError
    assert error.code == 502 and attempts == 3
    assert str(error).startswith(f"proxy http://127.0.0.1:{port} refused the tunnel to localhost:9")


# ------------------------------------------------------------------------ SOCKS4


def socks4_script(reply_code: int) -> Script:
    async def script(peer: Peer) -> None:
        version, command = await peer.exactly(2)
        assert (version, command) == (4, 1)
        await peer.exactly(6)  # port, address
        await peer.through(b"\x00")  # the user id
        await peer.send(bytes([0, reply_code]) + bytes(6))

    return script


@pytest.mark.parametrize(
    ("userinfo", "code", "authentication", "attempts"),
    [
        ("alice7@", 93, True, 1),  # identd disagrees with the user id
        ("alice7@", 92, True, 1),  # no identd to confirm it
        ("", 92, False, 1),  # no user id given: not about credentials, still fatal
        ("alice7@", 91, False, 3),  # rejected or failed: may work next time
    ],
)
async def test_socks4_refusals(
    nursery: trio.Nursery, userinfo: str, code: int, authentication: bool, attempts: int
) -> None:
    port, _ = await serve(nursery, socks4_script(code))
    error, made = await give_up(f"socks4://{userinfo}127.0.0.1:{port}", "ws://127.0.0.1:9/")
    assert isinstance(error, tether.ProxyError)
    assert isinstance(error, tether.ProxyAuthenticationError) is authentication
    assert (error.kind, error.code, made) == ("socks4", code, attempts)
    shown = f"socks4://{'***@' if userinfo else ''}127.0.0.1:{port}"
    assert error.proxy == shown
    if authentication:
        assert str(error) == f"proxy {shown} refused the user id"
    else:
        assert str(error).startswith(f"proxy {shown} refused the tunnel to 127.0.0.1:9: ")
    assert "alice7" not in str(error)


# ------------------------------------------------------------------------ SOCKS5


def socks5_script(method: int, auth_status: int | None = None, reply: int = 0) -> Script:
    """Greeting answered with ``method``; for method 2 the RFC 1929 exchange answered
    with ``auth_status``; then the request answered with ``reply``."""

    async def script(peer: Peer) -> None:
        version, count = await peer.exactly(2)
        assert version == 5
        await peer.exactly(count)
        await peer.send(bytes([5, method]))
        if method == 0xFF:
            return  # RFC 1928: the client closes
        if method == 2:
            assert (await peer.exactly(1)) == b"\x01"
            await peer.exactly((await peer.exactly(1))[0])
            await peer.exactly((await peer.exactly(1))[0])
            await peer.send(bytes([1, auth_status or 0]))
            if auth_status:
                return
        version, command, _, kind = await peer.exactly(4)
        assert (version, command) == (5, 1)
        length = {1: 4, 4: 16}.get(kind) or (await peer.exactly(1))[0]
        await peer.exactly(length + 2)
        await peer.send(bytes([5, reply, 0, 1, 0, 0, 0, 0, 0, 0]))

    return script


async def test_socks5_that_accepts_none_of_the_methods_offered(nursery: trio.Nursery) -> None:
    port, _ = await serve(nursery, socks5_script(0xFF))
    error, made = await give_up(f"socks5h://127.0.0.1:{port}")
    assert type(error) is tether.ProxyAuthenticationError
    assert str(error) == f"proxy socks5h://127.0.0.1:{port} requires a user name and password"
    assert made == 1
    error, made = await give_up(f"socks5h://u:secret@127.0.0.1:{port}")
    assert type(error) is tether.ProxyAuthenticationError
    assert str(error) == (
        f"proxy socks5h://***@127.0.0.1:{port} accepts none of the authentication methods"
        " offered (no user name and password)"
    )
    assert made == 1


async def test_socks5_that_refuses_the_password_with_a_status(nursery: trio.Nursery) -> None:
    port, _ = await serve(nursery, socks5_script(2, auth_status=1))
    error, made = await give_up(f"socks5h://u:secret@127.0.0.1:{port}")
    assert type(error) is tether.ProxyAuthenticationError
    assert str(error) == (
        f"proxy socks5h://***@127.0.0.1:{port} refused the user name and password"
    )
    assert made == 1


@pytest.mark.parametrize(
    ("method", "reply", "attempts"),
    [
        (0, 5, 3),  # connection refused by the target: retried
        (0, 2, 1),  # not allowed by the ruleset: fatal
        (2, 4, 3),  # host unreachable, after a granted password: retried, not an auth error
    ],
)
async def test_socks5_that_refuses_the_tunnel(
    nursery: trio.Nursery, method: int, reply: int, attempts: int
) -> None:
    port, _ = await serve(nursery, socks5_script(method, reply=reply))
    userinfo = "u:secret@" if method == 2 else ""
    error, made = await give_up(f"socks5h://{userinfo}127.0.0.1:{port}")
    assert type(error) is tether.ProxyError
    assert (error.kind, error.code, made) == ("socks5", reply, attempts)
    assert "refused the tunnel to localhost:9" in str(error) and "secret" not in str(error)


async def test_a_socks_read_returns_what_came_without_waiting_for_a_blank_line() -> None:
    """python-socks reads SOCKS replies with ``read_exactly``; a plain ``read`` (the HTTP
    answer's reader waits for its blank line) must not wait for one there."""
    client, server = trio.testing.memory_stream_pair()
    record = _Record()
    watched = _WatchedStream(client, record, http=False)
    await server.send_all(b"\x05\x00")
    with trio.fail_after(5):
        assert await watched.read() == b"\x05\x00"
    assert bytes(record.received) == b"\x05\x00"


# ----------------------------------------------------------------- https:// proxy


async def test_an_https_proxy_whose_certificate_does_not_verify(nursery: trio.Nursery) -> None:
    untrusted = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    untrusted.issue_cert("127.0.0.1").configure_cert(server_context)

    async def never_reached(peer: Peer) -> None:
        await peer.exactly(1)
        raise AssertionError("no CONNECT over a TLS connection that failed to verify")

    port, _ = await serve(nursery, never_reached, tls=server_context)
    error, made = await give_up(
        f"https://127.0.0.1:{port}", ssl_context=ssl.create_default_context()
    )
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert made == 1  # a certificate that does not verify will not verify next time


async def test_an_https_proxy_that_does_not_speak_tls(nursery: trio.Nursery) -> None:
    async def plain_http(peer: Peer) -> None:
        await peer.exactly(1)  # the start of a ClientHello
        await peer.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    port, _ = await serve(nursery, plain_http)
    error, made = await give_up(f"https://127.0.0.1:{port}")
    assert type(error) is tether.ProxyError
    assert str(error).startswith(
        f"proxy https://127.0.0.1:{port} broke the connection during the proxy handshake: "
    )
    assert isinstance(error.__cause__, trio.BrokenResourceError)
    assert isinstance(error.__cause__.__cause__, ssl.SSLError)
    assert error.code is None and made == 3
