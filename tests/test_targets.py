"""A target per attempt (issue 11 item 4): ``connect(url=async_fn)`` calls ``async_fn``
for every attempt and connects to the URL it returns (Slack Socket Mode hands out a fresh
``wss://`` URL per connection; Discord resumes at a URL it gave; presigned URLs expire).

What it raises is the application's error (``ApplicationError``, fatal by default,
``retry_if`` decides); a bad URL it returns is a ``ConfigError`` that ends the session
unretried. ``Connecting`` is emitted once the callable returned, with its URL redacted.

Times are exact on the virtual clock: ``Backoff(initial=1, jitter=False)`` waits 1, 2,
4 ... s before attempts 2, 3, 4 ... of an outage; attempt 1 starts at once."""

from __future__ import annotations

import pytest
import trio
import trio.lowlevel
import trio.testing
import trio_websocket

import tether
from tether import Backoff, Config, events
from tether.events import LostReason
from tether.testing import memory_server

from .helpers import EventLog

CONFIG = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=8, jitter=False))


class UrlMaker:
    """An ``async () -> str`` url callable that records when it was called and hands
    out ``ws://tether.test/c<n>?token=secret-<n>`` for call ``n``."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self) -> str:
        self.calls.append(trio.current_time())
        await trio.lowlevel.checkpoint()
        n = len(self.calls)
        return f"ws://tether.test/c{n}?token=secret-{n}"


async def test_a_url_callable_is_called_once_per_attempt(
    autojump_clock: trio.abc.Clock,
) -> None:
    make = UrlMaker()
    seen_in_on_connect: list[str] = []

    async def on_connect(conn: tether.Connection) -> None:
        seen_in_on_connect.append(conn.url)

    log = EventLog()
    with trio.fail_after(60):
        async with memory_server() as server:
            server.refuse(1)  # attempt 1 (call 1, t=0) is refused; attempt 2 at t=1
            async with tether.connect(
                make, config=CONFIG, opener=server.opener, on_connect=on_connect, on_event=log
            ) as session:
                assert trio.current_time() == 1
                await trio.sleep(1)
                session.reconnect()  # t=2: a fresh outage, attempt 1 at once (call 3)
                await server.wait_connections(2)
                await trio.sleep(1)
                server.drop()  # t=3, open 1 s (< stable_after): attempt 2 of it at t=4
                await server.wait_connections(3)
                assert session.generation == 3
    assert make.calls == [0, 1, 2, 4]
    assert [c.path for c in server.connections] == [
        "/c2?token=secret-2",
        "/c3?token=secret-3",
        "/c4?token=secret-4",
    ]
    shown = [f"ws://tether.test/c{n}?token=***" for n in (1, 2, 3, 4)]
    connecting = [(e.at, e.generation, e.attempt, e.url) for e in log.of(events.Connecting)]
    assert connecting == [
        (0, 1, 1, shown[0]),
        (1, 1, 2, shown[1]),
        (2, 2, 1, shown[2]),
        (4, 3, 2, shown[3]),
    ]
    connected = [(e.at, e.generation, e.url) for e in log.of(events.Connected)]
    assert connected == [(1, 1, shown[1]), (2, 2, shown[2]), (4, 3, shown[3])]
    assert seen_in_on_connect == shown[1:]
    assert "secret" not in repr(log.items)


class OneTimeUrlServer:
    """A server that accepts each URL for exactly one connection, as Slack Socket Mode
    does: a request target it has seen before is answered with 401. Over in-memory
    streams, served by trio-websocket (not tether), on the virtual clock."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.seen: list[str] = []
        self.rejected: list[str] = []
        self.close_codes: list[int | None] = []
        self._changed = trio.lowlevel.ParkingLot()

    async def opener(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        self._nursery.start_soon(self._serve, server)
        await trio.lowlevel.checkpoint()
        return client

    async def _serve(self, stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            if request.path in self.seen:
                self.rejected.append(request.path)
                await request.reject(401, body=b"invalid_auth: this URL was used")
                await stream.aclose()
                return
            self.seen.append(request.path)
            ws = await request.accept()
            try:
                while True:
                    await ws.send_message(await ws.get_message())
            except trio_websocket.ConnectionClosed as closed:
                self.close_codes.append(closed.reason.code)
            finally:
                self._changed.unpark_all()

    async def wait_closed(self, n: int) -> None:
        while len(self.close_codes) < n:
            await self._changed.park()


async def test_slack_style_one_time_urls_keep_a_session_alive_across_5_reconnects(
    autojump_clock: trio.abc.Clock,
) -> None:
    make = UrlMaker()  # apps.connections.open: a fresh URL per call
    log = EventLog()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            server = OneTimeUrlServer(nursery)
            async with tether.connect(
                make, config=CONFIG, opener=server.opener, on_event=log
            ) as session:
                for n in range(1, 6):
                    await session.send(f"before reconnect {n}")
                    assert await session.receive() == f"before reconnect {n}"
                    await trio.sleep(10)
                    session.reconnect(f"refresh {n}")
                await session.wait_connected()
                await session.send("after 5 reconnects")
                assert await session.receive() == "after 5 reconnects"
                assert session.generation == 6
            await server.wait_closed(6)
            nursery.cancel_scope.cancel()
    assert make.calls == [0, 10, 20, 30, 40, 50]
    assert server.seen == [f"/c{n}?token=secret-{n}" for n in range(1, 7)]
    assert server.rejected == []
    assert server.close_codes == [1000] * 6
    lost = log.of(events.ConnectionLost)
    assert [(e.at, e.reason) for e in lost] == [
        (t, LostReason.SUPERSEDED) for t in (10, 20, 30, 40, 50)
    ]
    assert log.of(events.BackingOff) == []


async def test_the_one_time_url_server_rejects_a_url_used_twice(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The control for the test above: with a fixed URL, the first reconnect meets 401
    (fatal), so that test passes only because each attempt has a URL of its own."""
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            server = OneTimeUrlServer(nursery)
            with pytest.raises(tether.HandshakeRejected) as raised:
                async with tether.connect(
                    "ws://tether.test/c1", config=CONFIG, opener=server.opener
                ) as session:
                    session.reconnect()
                    await trio.sleep(10)
            nursery.cancel_scope.cancel()
    assert raised.value.status_code == 401
    assert server.rejected == ["/c1"]


async def test_a_failing_url_callable_is_fatal_after_one_attempt(
    autojump_clock: trio.abc.Clock,
) -> None:
    calls: list[float] = []
    error = PermissionError("invalid_auth")

    async def make() -> str:
        calls.append(trio.current_time())
        raise error

    log = EventLog()
    config = Config(ping_interval=None, max_attempts=3, backoff=CONFIG.backoff)
    async with memory_server() as server:
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(make, config=config, opener=server.opener, on_event=log):
                pytest.fail("must not enter")
    assert calls == [0]
    assert server.connections == [] and server.refused_attempts == 0
    cause = raised.value.__cause__
    assert isinstance(cause, tether.ApplicationError)
    assert (cause.callback, cause.error) == ("url", error)
    assert str(raised.value) == (
        "not retrying after a fatal error: "
        "ApplicationError(\"url raised PermissionError('invalid_auth')\")"
    )
    # No URL, so no Connecting: GaveUp names the attempt (generation 1).
    assert log.kinds() == ["GaveUp", "Closed"]
    gave_up = log.of(events.GaveUp)[0]
    assert (gave_up.generation, gave_up.error, gave_up.exhausted) == (1, cause, False)


async def test_retry_if_decides_on_a_failing_url_callable(
    autojump_clock: trio.abc.Clock,
) -> None:
    calls: list[float] = []

    async def make() -> str:
        calls.append(trio.current_time())
        if len(calls) < 3:
            raise ConnectionRefusedError("the API is down")
        return "ws://tether.test/third"

    def retry_if(error: BaseException) -> bool:
        return isinstance(error, tether.ApplicationError) and isinstance(error.error, OSError)

    log = EventLog()
    config = Config(ping_interval=None, backoff=CONFIG.backoff, retry_if=retry_if)
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(make, config=config, opener=server.opener, on_event=log),
        ):
            assert trio.current_time() == 3
    assert calls == [0, 1, 3]
    assert [c.path for c in server.connections] == ["/third"]
    assert [(e.at, e.attempt) for e in log.of(events.BackingOff)] == [(0, 2), (1, 3)]
    assert [(e.at, e.attempt) for e in log.of(events.Connecting)] == [(3, 3)]


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (
            "http://tether.test/?token=secret-1",
            "url: the callable returned a bad URL: scheme must be ws:// or wss://, "
            "got 'http://tether.test/?token=***'",
        ),
        (
            "ws://alice:secret-1@tether.test:0/",
            "url: the callable returned a bad URL: port 0 cannot be connected to, "
            "in 'ws://***@tether.test:0/'",
        ),
        (b"ws://tether.test/", "url: the callable must return a str, got bytes"),
        (["ws://tether.test/"], "url: the callable must return a str, got list"),
    ],
    ids=["scheme", "port-0", "bytes", "list"],
)
async def test_a_bad_url_from_the_callable_ends_the_session_unretried(
    autojump_clock: trio.abc.Clock, returned: object, message: str
) -> None:
    calls: list[float] = []

    async def make() -> object:
        calls.append(trio.current_time())
        return returned

    log = EventLog()
    config = Config(ping_interval=None, backoff=CONFIG.backoff, retry_if=lambda error: True)
    async with memory_server() as server:
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(make, config=config, opener=server.opener, on_event=log):  # type: ignore[arg-type]
                pytest.fail("must not enter")
    assert calls == [0]
    assert server.connections == []
    cause = raised.value.__cause__
    assert isinstance(cause, tether.ConfigError)
    assert str(cause) == message
    assert cause.__cause__ is None
    assert "secret" not in str(raised.value) and "secret" not in repr(log.items)
    assert log.kinds() == ["GaveUp", "Closed"]


async def test_a_url_callable_that_is_not_async_ends_the_session(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with memory_server() as server:
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(lambda: "ws://tether.test/", opener=server.opener):  # type: ignore[arg-type,return-value]
                pytest.fail("must not enter")
    assert str(raised.value.__cause__) == (
        "url: the callable must be async (return an awaitable str), got str"
    )
    assert server.connections == []


async def test_connect_timeout_bounds_the_url_callable(autojump_clock: trio.abc.Clock) -> None:
    calls: list[float] = []

    async def make() -> str:
        calls.append(trio.current_time())
        if len(calls) == 1:
            await trio.sleep(60)  # an API that does not answer
        return "ws://tether.test/"

    log = EventLog()
    config = Config(ping_interval=None, connect_timeout=10, backoff=CONFIG.backoff)
    with trio.fail_after(120):
        async with (
            memory_server() as server,
            tether.connect(make, config=config, opener=server.opener, on_event=log),
        ):
            assert trio.current_time() == 11
    assert calls == [0, 11]
    backing_off = log.of(events.BackingOff)
    assert [(e.at, e.attempt, e.delay) for e in backing_off] == [(10, 2, 1.0)]
    assert str(backing_off[0].error) == (
        "connect attempt timed out after 10 s (while the url callable ran)"
    )
    assert len(server.connections) == 1


async def test_reconnect_while_the_url_callable_runs_cancels_that_attempt(
    autojump_clock: trio.abc.Clock,
) -> None:
    make = UrlMaker()
    gate = trio.Event()
    slow_calls: list[float] = []

    async def make_slowly() -> str:
        if len(make.calls) == 1 and not slow_calls:
            slow_calls.append(trio.current_time())
            gate.set()
            await trio.sleep(1000)  # cancelled by the second reconnect()
        return await make()

    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(
                make_slowly, config=CONFIG, opener=server.opener, on_event=log
            ) as session,
        ):
            session.reconnect()  # t=0: attempt 1 of the new outage blocks in the callable
            await gate.wait()
            await trio.sleep(5)
            session.reconnect()  # t=5: cancels it; attempt 1 again at once
            await server.wait_connections(2)
            assert trio.current_time() == 5
    assert make.calls == [0, 5]
    assert slow_calls == [0]
    assert [c.path for c in server.connections] == ["/c1?token=secret-1", "/c2?token=secret-2"]
    assert [(e.at, e.generation) for e in log.of(events.Connecting)] == [(0, 1), (5, 2)]


def test_a_url_that_is_no_str_sequence_or_callable_fails_before_io() -> None:
    async def main() -> None:
        async with tether.connect(42):  # type: ignore[arg-type]
            pass

    with pytest.raises(tether.ConfigError) as raised:
        trio.run(main)
    assert str(raised.value) == (
        "url: must be a str, a sequence of str or an async callable returning a str, got int"
    )
