"""The default opener over real loopback: socket options, TLS (trustme certificates)."""

from __future__ import annotations

import contextlib
import socket
import ssl

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
