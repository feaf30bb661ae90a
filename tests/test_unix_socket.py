"""Unix domain sockets (issue 11 item 6): ``connect(url, unix_socket=PATH)`` and
``tether.UnixOpener`` against a real trio-websocket server listening on an ``AF_UNIX``
socket in a temporary directory. The URL still gives the ``Host`` header and the
resource; ``wss://`` does TLS over the socket with the URL's host as the server name.

Real sockets and real time here: every wait is on a condition, bounded by
``fail_after``."""

from __future__ import annotations

import os
import socket
import ssl
import sys
from pathlib import Path

import attrs
import pytest
import trio
import trustme
from trio_websocket import ConnectionClosed, WebSocketRequest, wrap_server_stream

import tether
from tether import Backoff, Config, LostReason, events

from .helpers import EventLog

pytestmark = [
    pytest.mark.loopback,
    pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix domain sockets"),
]

CONFIG = Config(ping_interval=None, connect_timeout=5, close_timeout=2)


@attrs.define(eq=False)
class UnixServer:
    """A trio-websocket echo server on a Unix domain socket, recording each handshake's
    request target and ``Host`` header, and each connection's close code."""

    path: Path
    handshakes: list[tuple[str, str]] = attrs.Factory(list)
    close_codes: list[int | None] = attrs.Factory(list)
    _changed: trio.lowlevel.ParkingLot = attrs.Factory(trio.lowlevel.ParkingLot)

    async def start(self, nursery: trio.Nursery, ssl_context: ssl.SSLContext | None = None) -> None:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(os.fspath(self.path))
        sock.listen()
        listener: trio.SocketListener | trio.SSLListener[trio.SocketStream] = trio.SocketListener(
            sock
        )
        if ssl_context is not None:
            listener = trio.SSLListener(listener, ssl_context, https_compatible=True)
        # trio-websocket's WebSocketServer assumes IP listeners (it formats their
        # addresses); serve the listener with Trio and wrap each stream instead.
        await nursery.start(trio.serve_listeners, self._serve_stream, [listener])

    async def _serve_stream(self, stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            request = await wrap_server_stream(nursery, stream)
            await self._handle(request)
            nursery.cancel_scope.cancel()

    async def _handle(self, request: WebSocketRequest) -> None:
        # wsproto keeps the Host header to itself: its Request event has it.
        self.handshakes.append((request.path, request._event.host))
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed as closed:
            self.close_codes.append(closed.reason.code if closed.reason else None)
        finally:
            self._changed.unpark_all()

    async def wait_closed(self, n: int) -> None:
        while len(self.close_codes) < n:
            await self._changed.park()


@pytest.fixture
def socket_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # AF_UNIX paths are limited to about 100 bytes: a short directory of its own.
    return tmp_path_factory.mktemp("unix") / "ws.sock"


async def test_a_session_over_a_unix_socket_reconnects_over_it(
    nursery: trio.Nursery, socket_path: Path
) -> None:
    server = UnixServer(socket_path)
    await server.start(nursery)
    log = EventLog()
    with trio.fail_after(10):
        async with tether.connect(
            "ws://tether.test:8080/feed?room=1",
            config=CONFIG,
            unix_socket=socket_path,
            on_event=log,
        ) as session:
            await session.send("one")
            assert await session.receive() == "one"
            session.reconnect()
            await session.send("two")
            assert await session.receive() == "two"
            assert session.generation == 2
        await server.wait_closed(2)
    assert server.handshakes == [("/feed?room=1", "tether.test:8080")] * 2
    assert server.close_codes == [1000, 1000]
    assert [e.url for e in log.of(events.Connected)] == ["ws://tether.test:8080/feed?room=1"] * 2
    assert [e.reason for e in log.of(events.ConnectionLost)] == [LostReason.SUPERSEDED]


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def server_context(authority: trustme.CA, host: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(host).configure_cert(context)
    return context


def client_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


async def test_wss_over_a_unix_socket_does_tls_for_the_url_host(
    nursery: trio.Nursery, socket_path: Path, authority: trustme.CA
) -> None:
    server = UnixServer(socket_path)
    await server.start(nursery, server_context(authority, "tether.test"))
    with trio.fail_after(10):
        async with tether.connect(
            "wss://tether.test/secure",
            config=CONFIG,
            unix_socket=os.fspath(socket_path),
            ssl_context=client_context(authority),
        ) as session:
            await session.send("over TLS")
            assert await session.receive() == "over TLS"
        await server.wait_closed(1)
    assert server.handshakes == [("/secure", "tether.test")]


async def test_wss_over_a_unix_socket_checks_the_certificate_against_the_url_host(
    nursery: trio.Nursery, socket_path: Path, authority: trustme.CA
) -> None:
    server = UnixServer(socket_path)
    await server.start(nursery, server_context(authority, "other.test"))
    with trio.fail_after(10):
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(
                "wss://tether.test/",
                config=attrs.evolve(CONFIG, max_attempts=3),
                unix_socket=socket_path,
                ssl_context=client_context(authority),
            ):
                pytest.fail("must not enter")
    cause = raised.value.__cause__
    assert isinstance(cause, ssl.SSLCertVerificationError)
    assert "tether.test" in str(cause)
    assert str(raised.value).startswith("not retrying after a fatal error: ")
    assert server.handshakes == []


async def test_a_missing_socket_is_retried_like_a_refused_connection(socket_path: Path) -> None:
    log = EventLog()
    config = attrs.evolve(CONFIG, max_attempts=2, backoff=Backoff(initial=0.01, jitter=False))
    with trio.fail_after(10):
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(
                "ws://tether.test/", config=config, unix_socket=socket_path, on_event=log
            ):
                pytest.fail("must not enter")
    assert isinstance(raised.value.__cause__, FileNotFoundError)
    assert str(raised.value).startswith("gave up reconnecting after 2 attempts")
    assert [e.attempt for e in log.of(events.Connecting)] == [1, 2]


async def test_the_unix_opener_works_as_an_opener_of_its_own(
    nursery: trio.Nursery, socket_path: Path
) -> None:
    server = UnixServer(socket_path)
    await server.start(nursery)
    with trio.fail_after(10):
        async with tether.connect(
            "ws://localhost/", config=CONFIG, opener=tether.UnixOpener(socket_path)
        ) as session:
            await session.send("hi")
            assert await session.receive() == "hi"
    assert server.handshakes == [("/", "localhost")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"unix_socket": "/run/ws.sock", "opener": tether.TcpOpener()},
            "unix_socket: cannot be combined with opener= (the opener decides where to "
            "connect; pass opener=tether.UnixOpener(path) yourself, or leave opener out)",
        ),
        ({"unix_socket": 3}, "unix_socket: must be a str or os.PathLike path, got int"),
        (
            {"unix_socket": b"/run/ws.sock"},
            "unix_socket: must be a str or os.PathLike path, got bytes",
        ),
        ({"unix_socket": ""}, "unix_socket: the path is empty"),
    ],
    ids=["with-opener", "int", "bytes", "empty"],
)
def test_wrong_unix_socket_arguments_fail_before_io(
    kwargs: dict[str, object], message: str
) -> None:
    opened: list[object] = []

    async def main() -> None:
        async with tether.connect("ws://tether.test/", **kwargs):  # type: ignore[arg-type]
            opened.append(True)

    with pytest.raises(tether.ConfigError) as raised:
        trio.run(main)
    assert str(raised.value) == message
    assert opened == []


@pytest.mark.skipif(sys.platform == "win32", reason="Unix domain sockets")
async def test_tether_connect_unix_socket_flag(nursery: trio.Nursery, socket_path: Path) -> None:
    from .cli.support import run_tether

    server = UnixServer(socket_path)
    await server.start(nursery)
    result = await run_tether(
        "connect",
        "ws://tether.test/cli",
        "--unix-socket",
        os.fspath(socket_path),
        "--wait",
        "0.5",
        stdin=b"alpha\nbeta\n",
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().splitlines() == ["alpha", "beta"]
    with trio.fail_after(10):
        await server.wait_closed(1)
    assert server.handshakes == [("/cli", "tether.test")]
    assert server.close_codes == [1000]
    assert "connected to ws://tether.test/cli (generation 1)" in result.stderr.decode()


async def test_server_hostname_names_the_tls_server_of_a_unix_socket(
    nursery: trio.Nursery, socket_path: Path, authority: trustme.CA
) -> None:
    server = UnixServer(socket_path)
    await server.start(nursery, server_context(authority, "example.test"))
    with trio.fail_after(10):
        async with tether.connect(
            "wss://127.0.0.1/",
            config=CONFIG,
            unix_socket=socket_path,
            server_hostname="example.test",
            ssl_context=client_context(authority),
        ) as session:
            await session.send("named")
            assert await session.receive() == "named"
