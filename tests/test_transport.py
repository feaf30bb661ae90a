"""The default opener over real loopback: socket options, TLS (trustme certificates)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct

import attrs
import pytest
import trio
import trustme
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import tether
from tether import Backoff, Config, TcpOpener

pytestmark = pytest.mark.loopback

CONFIG = Config(ping_interval=None, connect_timeout=2, backoff=Backoff(initial=0.05))


async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.send_message(await ws.get_message())


async def test_tcp_opener_sets_keepalive_and_user_timeout(nursery: trio.Nursery) -> None:
    async def idle(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    listeners = await nursery.start(trio.serve_tcp, idle, 0)
    port = listeners[0].socket.getsockname()[1]
    stream = await TcpOpener()("127.0.0.1", port, False)
    assert isinstance(stream, trio.SocketStream)
    sock = stream.socket
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 60_000
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
    await stream.aclose()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def _tls_server(nursery: trio.Nursery, ca: trustme.CA) -> int:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    server = await nursery.start(serve_websocket, echo, "127.0.0.1", 0, server_context)
    return int(server.port)


async def test_wss_with_a_trusted_certificate(nursery: trio.Nursery, ca: trustme.CA) -> None:
    port = await _tls_server(nursery, ca)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with trio.fail_after(10):
        async with tether.connect(
            f"wss://127.0.0.1:{port}/", config=CONFIG, ssl_context=client_context
        ) as session:
            await session.send("over tls")
            assert await session.receive() == "over tls"


async def test_untrusted_certificate_fails_at_once(nursery: trio.Nursery, ca: trustme.CA) -> None:
    port = await _tls_server(nursery, ca)
    attempts = 0

    def count(event: tether.events.Event) -> None:
        nonlocal attempts
        attempts += isinstance(event, tether.events.Connecting)

    with trio.fail_after(10), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(f"wss://127.0.0.1:{port}/", config=CONFIG, on_event=count):
            pytest.fail("must not enter")
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)
    assert attempts == 1


async def test_a_tls_version_mismatch_is_a_retried_connection_error(
    nursery: trio.Nursery, ca: trustme.CA
) -> None:
    """The server speaks TLS, only not a version we allow: not "a plain server" (that
    is IncompatibleServer) but a TLS handshake that failed, retried like any connection
    error, its message naming the SSL error."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.minimum_version = ssl.TLSVersion.TLSv1_3
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    async def tls_handshake_only(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, server_context, server_side=True)
        with contextlib.suppress(trio.BrokenResourceError):
            await tls.do_handshake()  # fails: it sends the alert, then we close
        await trio.aclose_forcefully(stream)

    listeners = await nursery.start(trio.serve_tcp, tls_handshake_only, 0)
    port = listeners[0].socket.getsockname()[1]
    client_context = ssl.create_default_context()
    client_context.maximum_version = ssl.TLSVersion.TLSv1_2
    ca.configure_trust(client_context)
    config = attrs.evolve(CONFIG, max_attempts=2)
    backing_off: list[tether.events.BackingOff] = []

    def record(event: tether.events.Event) -> None:
        if isinstance(event, tether.events.BackingOff):
            backing_off.append(event)

    with trio.fail_after(10), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(
            f"wss://127.0.0.1:{port}/",
            config=config,
            ssl_context=client_context,
            on_event=record,
        ):
            pytest.fail("must not enter")
    error = raised.value.__cause__
    assert type(error) is ConnectionError
    assert str(error).startswith("TLS handshake failed: [SSL: ")
    assert isinstance(error.__cause__, ssl.SSLError)
    assert len(backing_off) == 1  # retried (then the attempts ran out)


async def test_a_reset_during_the_tls_handshake_is_retried(nursery: trio.Nursery) -> None:
    async def reset_after_the_client_hello(stream: trio.SocketStream) -> None:
        await stream.receive_some()
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()  # SO_LINGER 0: a TCP RST

    listeners = await nursery.start(trio.serve_tcp, reset_after_the_client_hello, 0)
    port = listeners[0].socket.getsockname()[1]
    config = attrs.evolve(CONFIG, max_attempts=2)
    with trio.fail_after(10), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(f"wss://127.0.0.1:{port}/", config=config):
            pytest.fail("must not enter")
    assert "gave up reconnecting after 2 attempts" in str(raised.value)
    error = raised.value.__cause__
    assert isinstance(error, ConnectionResetError)


# ------------------------------------------ issue 11 item 3: server_hostname= (SNI, cert)


async def _named_tls_server(
    nursery: trio.Nursery, ca: trustme.CA, name: str, seen: list[str | None]
) -> int:
    """A TLS WebSocket server on 127.0.0.1 whose certificate is for ``name`` only; it
    records the SNI name of every handshake."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(server_context)

    def sni(sock: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        seen.append(server_name)

    server_context.sni_callback = sni  # type: ignore[assignment]
    server = await nursery.start(serve_websocket, echo, "127.0.0.1", 0, server_context)
    return int(server.port)


async def test_server_hostname_sets_sni_and_the_certificate_name(
    nursery: trio.Nursery, ca: trustme.CA
) -> None:
    """Before: connect() had no server_hostname (TypeError). Now: SNI example.test, and
    the certificate for example.test is accepted on a URL that names an address."""
    seen: list[str | None] = []
    port = await _named_tls_server(nursery, ca, "example.test", seen)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with trio.fail_after(10):
        async with tether.connect(
            f"wss://127.0.0.1:{port}/",
            config=CONFIG,
            ssl_context=client_context,
            server_hostname="example.test",
        ) as session:
            await session.send("named")
            assert await session.receive() == "named"
    assert seen == ["example.test"]


async def test_without_server_hostname_the_address_fails_the_certificate_check(
    nursery: trio.Nursery, ca: trustme.CA
) -> None:
    """The same server, no server_hostname: no SNI for an address, and the certificate
    (for example.test) does not match 127.0.0.1: fatal after one attempt."""
    seen: list[str | None] = []
    port = await _named_tls_server(nursery, ca, "example.test", seen)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with trio.fail_after(10), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(
            f"wss://127.0.0.1:{port}/", config=CONFIG, ssl_context=client_context
        ):
            pytest.fail("must not enter")
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)
    assert seen == [None]


async def test_tcp_opener_server_hostname_checks_that_name(
    nursery: trio.Nursery, ca: trustme.CA
) -> None:
    seen: list[str | None] = []
    port = await _named_tls_server(nursery, ca, "example.test", seen)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    wrong = TcpOpener(ssl_context=client_context, server_hostname="other.test")
    with pytest.raises(ssl.SSLCertVerificationError):
        await wrong("127.0.0.1", port, True)
    right = TcpOpener(ssl_context=client_context, server_hostname="example.test")
    stream = await right("127.0.0.1", port, True)
    await stream.aclose()
    assert seen == ["other.test", "example.test"]
