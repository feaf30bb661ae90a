"""``tether.testing.LoopbackServer``: a memory-server handler on real loopback sockets,
with the server's own faults (a Close with a code, handshakes rejected with a status
and headers) and a record per handshake."""

from __future__ import annotations

import pytest
import trio

import tether
from tether.events import BackingOff, Connected, ConnectionLost, Event, LostReason
from tether.exceptions import HandshakeRejected
from tether.testing import LoopbackServer, ServerConnection, echo

pytestmark = pytest.mark.loopback

CONFIG = tether.Config(ping_interval=None, backoff=tether.Backoff(initial=0.01, maximum=0.01))


class Events:
    """A session's events (``on_event=events.append``); :meth:`wait_open` waits for a
    generation's ``Connected``."""

    def __init__(self) -> None:
        self.seen: list[Event] = []
        self._changed = trio.Event()

    def append(self, event: Event) -> None:
        self.seen.append(event)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_open(self, generation: int) -> None:
        while not any(isinstance(e, Connected) and e.generation == generation for e in self.seen):
            await self._changed.wait()


async def test_it_echoes_records_and_closes_with_a_code(nursery: trio.Nursery) -> None:
    server = LoopbackServer(echo)
    port = await nursery.start(server.serve)
    assert port == server.port > 0
    events = Events()
    with trio.fail_after(10):
        async with tether.connect(
            f"ws://127.0.0.1:{port}/feed?x=1",
            config=CONFIG,
            proxy=None,
            on_event=events.append,
        ) as session:
            await session.send("hello")
            assert await session.receive() == "hello"
            assert [r.id for r in server.open_connections] == [1]
            await server.close(1001, "going away")
            await events.wait_open(2)
            await session.send("again")
            assert await session.receive() == "again"
    lost = [e for e in events.seen if isinstance(e, ConnectionLost)]
    assert [(e.reason, e.code) for e in lost] == [(LostReason.PEER_CLOSED, 1001)]
    first, second = server.connections
    assert (first.path, first.opened, first.messages) == ("/feed?x=1", True, ["hello"])
    assert (first.closed_by, first.close_code) == ("server", 1001)
    assert second.messages == ["again"]


async def test_rejected_handshakes_carry_the_status_and_headers(nursery: trio.Nursery) -> None:
    server = LoopbackServer(echo)
    port = await nursery.start(server.serve)
    server.reject(2, 429, {"Retry-After": "0"})
    backoffs: list[BackingOff] = []

    def on_event(event: Event) -> None:
        if isinstance(event, BackingOff):
            backoffs.append(event)

    with trio.fail_after(10):
        async with tether.connect(
            f"ws://127.0.0.1:{port}/", config=CONFIG, proxy=None, on_event=on_event
        ) as session:
            await session.send("through")
            assert await session.receive() == "through"
    errors = [e.error for e in backoffs]
    assert [type(e) for e in errors] == [HandshakeRejected, HandshakeRejected]
    assert all(isinstance(e, HandshakeRejected) and e.status_code == 429 for e in errors)
    assert all(isinstance(e, HandshakeRejected) and e.headers["retry-after"] == "0" for e in errors)
    assert [r.rejected_status for r in server.connections] == [429, 429, None]
    assert [r.opened for r in server.connections] == [False, False, True]
    with pytest.raises(ValueError, match="status"):
        server.reject(1, 200)
    with pytest.raises(ValueError, match="n:"):
        server.reject(0)


async def test_a_handler_that_raises_closes_with_1011_and_the_server_lives(
    nursery: trio.Nursery,
) -> None:
    async def handler(conn: ServerConnection) -> None:
        message = await conn.get_message()
        if message == "boom":
            raise RuntimeError("boom")
        await conn.send_message(message)
        await echo(conn)

    server = LoopbackServer(handler)
    port = await nursery.start(server.serve)
    events = Events()
    with trio.fail_after(10):
        async with tether.connect(
            f"ws://127.0.0.1:{port}/", config=CONFIG, proxy=None, on_event=events.append
        ) as session:
            await session.send("boom")
            await events.wait_open(2)
            await session.send("echoed")
            assert await session.receive() == "echoed"
    lost = [e for e in events.seen if isinstance(e, ConnectionLost)]
    assert [e.code for e in lost] == [1011]
    record = server.connections[0]
    assert isinstance(record.handler_error, RuntimeError)
    assert (record.closed_by, record.close_code) == ("server", 1011)
    assert server.connections[1].handler_error is None
