"""Issue 10, items 6 and 7: causes that will not change end the session at once, with
the real cause in the message.

* the application's own exceptions (``on_connect``, the ``headers`` callable) are not
  transport errors, even when they are ``OSError``: fatal, as ``ApplicationError``;
* a 101 that selected an extension or a subprotocol we did not offer (RFC 6455
  section 4.1), and ``wss://`` to a plain server: ``IncompatibleServer``, fatal;
* a message over ``max_message_size``: fatal, naming the size and the setting.

Each runs with ``max_attempts=3``, so that the code before the fix (which retried) fails
by attempt count instead of looping; each asserts exactly one attempt, at t=0.
"""

from __future__ import annotations

import contextlib

import pytest
import trio
import trio.testing
import wsproto
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket
from wsproto.events import AcceptConnection, Request

import tether
from tether import Backoff, Config, LostReason, events
from tether.testing import ServerConnection, memory_server

from ..helpers import EventLog

URL = "ws://tether.test/"
#: Three attempts at most: a retried fatal cause shows as 3 attempts, not a hang.
THREE = Config(
    ping_interval=None, max_attempts=3, backoff=Backoff(initial=1, maximum=8, jitter=False)
)


def fatal(raised: pytest.ExceptionInfo[tether.ReconnectFailed]) -> BaseException:
    """The cause of a session that ended on a fatal error (not by giving up)."""
    assert str(raised.value).startswith("not retrying after a fatal error: ")
    cause = raised.value.__cause__
    assert cause is not None and raised.value.last_error is cause
    return cause


# ------------------------------------------ item 6: the application's errors are fatal


@pytest.mark.parametrize(
    "error",
    [PermissionError("auth refused"), FileNotFoundError("token.txt"), TimeoutError("mine")],
    ids=["PermissionError", "FileNotFoundError", "TimeoutError"],
)
async def test_on_connect_oserror_is_fatal_after_one_attempt(
    autojump_clock: trio.abc.Clock, error: OSError
) -> None:
    """Before: any OSError from on_connect was retried (3 attempts here, for ever by
    default). Now: ApplicationError, the session ends after 1 attempt at t=0."""

    async def on_connect(conn: tether.Connection) -> None:
        raise error

    log = EventLog()
    async with memory_server() as server:
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(
                URL, config=THREE, opener=server.opener, on_connect=on_connect, on_event=log
            ):
                pytest.fail("must not enter")
        assert len(server.connections) == 1
    assert [e.at for e in log.of(events.Connecting)] == [0]
    assert trio.current_time() == 0
    cause = fatal(raised)
    assert isinstance(cause, tether.ApplicationError)
    assert (cause.callback, cause.error, cause.__cause__) == ("on_connect", error, error)
    assert f"on_connect raised {error!r}" in str(raised.value)
    assert log.of(events.GaveUp)[0].error is cause


async def test_headers_callable_oserror_is_fatal_after_one_attempt(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def headers() -> dict[str, str]:
        raise FileNotFoundError(2, "No such file or directory", "/run/token")

    log = EventLog()
    async with memory_server() as server:
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(
                URL, config=THREE, opener=server.opener, headers=headers, on_event=log
            ):
                pytest.fail("must not enter")
        assert server.connections == []  # the headers come before the stream
    assert [e.at for e in log.of(events.Connecting)] == [0]
    cause = fatal(raised)
    assert isinstance(cause, tether.ApplicationError)
    assert cause.callback == "headers" and isinstance(cause.__cause__, FileNotFoundError)
    assert "headers raised FileNotFoundError(2, 'No such file or directory')" in str(raised.value)


async def test_retry_if_sees_the_application_error_and_can_retry_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    seen: list[BaseException] = []

    def retry_if(error: BaseException) -> bool:
        seen.append(error)
        return isinstance(error, tether.ApplicationError) and isinstance(
            error.__cause__, PermissionError
        )

    calls = 0

    async def on_connect(conn: tether.Connection) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise PermissionError("token not yet valid")

    log = EventLog()
    config = Config(ping_interval=None, retry_if=retry_if, backoff=Backoff(initial=1, jitter=False))
    async with (
        memory_server() as server,
        tether.connect(
            URL, config=config, opener=server.opener, on_connect=on_connect, on_event=log
        ) as session,
    ):
        assert session.generation == 1
        assert trio.current_time() == 1  # attempt 2 waits one step
    assert calls == 2
    (error,) = seen
    assert isinstance(error, tether.ApplicationError) and error.callback == "on_connect"
    (backing_off,) = log.of(events.BackingOff)
    assert backing_off.error is not None
    assert "on_connect raised PermissionError('token not yet valid')" in str(backing_off.error)


async def test_connection_lost_inside_on_connect_is_still_retried(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The connection's own error, raised by Connection.receive when the link dies, is
    not the application's: retried, not wrapped."""
    calls = 0

    async def on_connect(conn: tether.Connection) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            server.drop()
            await conn.receive()

    log = EventLog()
    async with (
        memory_server() as server,
        tether.connect(
            URL, config=THREE, opener=server.opener, on_connect=on_connect, on_event=log
        ) as session,
    ):
        assert session.generation == 1
    assert [e.at for e in log.of(events.Connecting)] == [0, 1]
    (backing_off,) = log.of(events.BackingOff)
    assert isinstance(backing_off.error, tether.ConnectionLostError)
    assert backing_off.error.reason is LostReason.TRANSPORT_ERROR


# ------------------------------------------ item 7a: what we did not offer is fatal


def _accepting_opener(nursery: trio.Nursery, extra: list[tuple[bytes, bytes]]) -> tether.Opener:
    """An opener whose server (wsproto) accepts the upgrade with ``extra`` headers."""

    async def serve(stream: trio.abc.Stream) -> None:
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while not any(isinstance(e, Request) for e in ws.events()):
            ws.receive_data(await stream.receive_some())
        await stream.send_all(ws.send(AcceptConnection(extra_headers=extra)))
        await trio.sleep_forever()

    async def opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
        client, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(serve, server_end)
        return client

    return opener


@pytest.mark.parametrize(
    ("header", "offered", "message"),
    [
        (
            (b"Sec-WebSocket-Extensions", b"x-webkit-deflate-frame"),
            (),
            "the server's Sec-WebSocket-Extensions 'x-webkit-deflate-frame' is not a valid "
            "answer to the offer 'permessage-deflate; client_max_window_bits': the server "
            "selected extension 'x-webkit-deflate-frame', which was not offered (offered: "
            "permessage-deflate)",
        ),
        (
            (b"Sec-WebSocket-Protocol", b"chat.v3"),
            ("chat.v1", "chat.v2"),
            "the server selected subprotocol 'chat.v3', which the client did not offer "
            "(offered: 'chat.v1', 'chat.v2'; RFC 6455 section 4.1: fail the connection)",
        ),
    ],
    ids=["extension", "subprotocol"],
)
async def test_unoffered_extension_or_subprotocol_is_fatal_after_one_attempt(
    autojump_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    header: tuple[bytes, bytes],
    offered: tuple[str, ...],
    message: str,
) -> None:
    """Before: HandshakeFailed, retried (3 attempts here). Now: IncompatibleServer."""
    log = EventLog()
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(
            URL,
            config=THREE,
            opener=_accepting_opener(nursery, [header]),
            subprotocols=offered,
            on_event=log,
        ):
            pytest.fail("must not enter")
    assert [e.at for e in log.of(events.Connecting)] == [0]
    assert trio.current_time() == 0
    cause = fatal(raised)
    assert isinstance(cause, tether.IncompatibleServer)
    assert str(cause) == message


# ------------------------------------------ item 7b: wss:// to a plain server is fatal


async def _plain_echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.send_message(await ws.get_message())


@pytest.mark.loopback
async def test_wss_url_for_a_plain_server_is_fatal_and_names_the_ssl_error(
    nursery: trio.Nursery,
) -> None:
    """Over real loopback TCP, a plain trio-websocket server. Before: retried as
    ``ConnectionResetError: connection broke while connecting: BrokenResourceError()``
    (3 attempts here). Now: one attempt, the SSL error in the message."""
    server = await nursery.start(serve_websocket, _plain_echo, "127.0.0.1", 0, None)
    log = EventLog()
    config = Config(
        ping_interval=None, connect_timeout=5, max_attempts=3, backoff=Backoff(initial=0.01)
    )
    with trio.fail_after(10), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(f"wss://127.0.0.1:{server.port}/", config=config, on_event=log):
            pytest.fail("must not enter")
    assert len(log.of(events.Connecting)) == 1
    cause = fatal(raised)
    assert isinstance(cause, tether.IncompatibleServer)
    assert str(cause).startswith("TLS handshake failed: [SSL: WRONG_VERSION_NUMBER] ")
    assert str(cause).endswith("(is this a wss:// URL for a plain ws:// server?)")
    assert "WRONG_VERSION_NUMBER" in str(raised.value)
    assert type(cause.__cause__).__name__ == "SSLError"
    # The same server over ws:// works: the URL was wrong, not the server.
    async with tether.connect(f"ws://127.0.0.1:{server.port}/", config=config) as session:
        await session.send("plain")
        assert await session.receive() == "plain"


# ------------------------------------------ item 7c: a message over max_message_size


async def test_message_over_max_message_size_ends_the_session_naming_the_setting(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A server that sends the same snapshot on every subscribe would loop for ever on
    reconnects. Before: a 1009 and a reconnect (3 generations here). Now: the session
    ends after the one generation, at t=0, with the size and the setting named."""

    async def snapshot_on_subscribe(conn: ServerConnection) -> None:
        await conn.get_message()
        await conn.send_message(b"x" * 2_097_152)
        await trio.sleep_forever()

    async def subscribe(conn: tether.Connection) -> None:
        await conn.send("subscribe")

    log = EventLog()
    config = Config(
        ping_interval=None, max_attempts=3, max_message_size=1_048_576, backoff=THREE.backoff
    )
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with (
            memory_server(snapshot_on_subscribe, max_message_size=4 * 2**20) as server,
            tether.connect(
                URL, config=config, opener=server.opener, on_connect=subscribe, on_event=log
            ) as session,
        ):
            await session.receive()
    assert len(server.connections) == 1
    assert [e.at for e in log.of(events.Connecting)] == [0]
    assert trio.current_time() == 0
    (lost,) = log.of(events.ConnectionLost)
    assert (lost.reason, lost.code) == (LostReason.PROTOCOL_ERROR, 1009)
    cause = fatal(raised)
    assert isinstance(cause, tether.ConnectionLostError)
    assert cause.detail == (
        "a message of 2,097,152 bytes exceeds max_message_size=1,048,576 (Config.max_message_size)"
    )
    assert cause.detail in str(raised.value)
    record = server.connections[0]
    assert (record.close_code, record.closed_by) == (1009, "client")


# ------------------------------------ a crash inside an open generation (a bug)


class _FailingReads(trio.abc.Stream):
    """A stream that raises ``ValueError`` on reading the bytes ``crash`` (a bug below
    tether, say in a custom opener's stream): not a transport error tether knows."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        if b"crash" in data:
            raise ValueError("bug")
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_an_open_generation_that_crashes_reports_its_loss_then_fails(
    autojump_clock: trio.abc.Clock,
) -> None:
    """An unexpected exception out of an open generation's tasks is not swallowed: the
    generation still gets its ``ConnectionLost`` (naming the crash), then the default
    table, which retries only what it knows, ends the session with the error itself."""
    opened = 0

    async def opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
        nonlocal opened
        opened += 1
        return _FailingReads(await server.opener(host, port, tls))

    log = EventLog()
    async with memory_server() as server:
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(URL, config=THREE, opener=opener, on_event=log) as s:
                await s.send("before")
                assert await s.receive() == "before"
                await trio.sleep(1)
                await s.send("crash")  # its echo breaks the stream's read
                await s.receive()
    error = fatal(raised)
    assert isinstance(error, ValueError) and str(error) == "bug"
    [lost] = log.of(events.ConnectionLost)
    assert (lost.generation, lost.reason) == (1, LostReason.TRANSPORT_ERROR)
    assert lost.detail == "generation crashed: ValueError('bug')"
    assert opened == 1 and trio.current_time() == 1
