"""F4, F5, F7 and F12 over real 127.0.0.1 TCP against a trio-websocket server.

Real time here, so every wait is on a condition and bounded by ``fail_after``; the
timeouts in the configs are short so that each test takes well under a second.
"""

from __future__ import annotations

import attrs
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import tether
from tether import Backoff, Config, LostReason, events
from tether.testing import ChaosProxy

from .helpers import EventLog

pytestmark = pytest.mark.loopback

CONFIG = Config(
    ping_interval=0.2,
    ping_timeout=0.2,
    connect_timeout=2,
    close_timeout=1,
    backoff=Backoff(initial=0.05, maximum=0.2),
)


@attrs.define
class Record:
    id: int
    opened: bool = False
    close_code: int | None = None
    messages: list[str | bytes] = attrs.Factory(list)
    ended: trio.Event = attrs.Factory(trio.Event)


@attrs.define(eq=False)
class LoopbackServer:
    """A trio-websocket echo server on 127.0.0.1 that tests can misbehave."""

    nursery: trio.Nursery
    port: int = 0
    accept_delay: float = 0.0
    records: list[Record] = attrs.Factory(list)
    _streams: dict[int, trio.abc.Stream] = attrs.Factory(dict)
    _listener_scope: trio.CancelScope | None = None
    _changed: trio.lowlevel.ParkingLot = attrs.Factory(trio.lowlevel.ParkingLot)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        self._listener_scope = trio.CancelScope()
        server = await self.nursery.start(self._serve, self._listener_scope)
        self.port = server.port

    async def _serve(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[object]
    ) -> None:
        with scope:
            await serve_websocket(
                self._handle, "127.0.0.1", self.port, None, task_status=task_status
            )

    def stop_listening(self) -> None:
        assert self._listener_scope is not None
        self._listener_scope.cancel()

    async def _handle(self, request: WebSocketRequest) -> None:
        record = Record(id=len(self.records) + 1)
        self.records.append(record)
        self._changed.unpark_all()
        try:
            if self.accept_delay:
                await trio.sleep(self.accept_delay)
            ws = await request.accept()
            record.opened = True
            self._streams[record.id] = ws._stream
            self._changed.unpark_all()
            while True:
                message = await ws.get_message()
                record.messages.append(message)
                if message == "__close__":
                    await ws.aclose(1001, "going away")
                    continue
                try:
                    await ws.send_message(message)
                except ConnectionClosed:
                    pass  # the client is closing: keep reading what it sent before
        except ConnectionClosed as exc:
            record.close_code = exc.reason.code if exc.reason else None
        finally:
            record.ended.set()
            self._changed.unpark_all()

    def abort_all(self) -> None:
        for stream in self._streams.values():
            sock = getattr(stream, "socket", None)
            if sock is not None:
                sock.close()  # no Close frame, no FIN handshake from the WebSocket layer

    async def wait_for(self, predicate: object) -> None:
        assert callable(predicate)
        while not predicate():
            await self._changed.park()

    def open_count(self) -> int:
        return sum(1 for r in self.records if r.opened and not r.ended.is_set())


@pytest.fixture
async def server(nursery: trio.Nursery) -> LoopbackServer:
    server = LoopbackServer(nursery)
    await server.start()
    return server


async def test_f4_loopback_reconnect_during_handshake(server: LoopbackServer) -> None:
    log = EventLog()
    with trio.fail_after(10):
        async with tether.connect(server.url, config=CONFIG, on_event=log) as session:
            server.accept_delay = 0.3
            session.reconnect("first")
            await server.wait_for(lambda: len(server.records) == 2)
            session.reconnect("during the handshake")
            await server.wait_for(lambda: len(server.records) == 3)
            server.accept_delay = 0
            await session.wait_connected()
            await server.records[1].ended.wait()
            await session.send("hello")
            assert await session.receive() == "hello"
            assert server.open_count() == 1
            assert session.generation == 2
            # The abandoned attempt is closed on the server (no Close frame: it never
            # opened on our side); only the newest connection stays open.
            assert server.records[1].ended.is_set()
            assert server.records[1].close_code == 1006
            assert server.records[0].close_code == 1000  # superseded with a Close frame


async def test_f5_loopback_reconnect_during_backoff(server: LoopbackServer) -> None:
    config = attrs.evolve(CONFIG, backoff=Backoff(initial=30, maximum=30, jitter=False))
    log = EventLog()
    with trio.fail_after(10):
        async with tether.connect(server.url, config=config, on_event=log) as session:
            server.stop_listening()
            server.abort_all()
            await log.wait_count(events.BackingOff, 1)
            assert log.of(events.BackingOff)[0].delay == 30
            await server.start()  # the same port again
            session.reconnect("operator")
            await session.wait_connected()
            assert session.generation == 2
            await session.send("x")
            assert await session.receive() == "x"
            assert server.open_count() == 1


async def test_f7_loopback_graceful_close_flushes_and_cancel_sends_1001(
    server: LoopbackServer,
) -> None:
    with trio.fail_after(10):
        async with tether.connect(server.url, config=CONFIG) as session:
            for n in range(200):
                session.send_nowait(f"tail-{n}")
        await server.records[0].ended.wait()
        assert server.records[0].messages == [f"tail-{n}" for n in range(200)]
        assert server.records[0].close_code == 1000

        entered = False
        with trio.move_on_after(0.3) as scope:
            async with tether.connect(server.url, config=CONFIG):
                entered = True
                await trio.sleep_forever()
        # The body was running when cancelled, and leaving took less than the close's
        # bound (close_timeout): the 1001 Close went out without a wait for the reply.
        assert entered
        assert trio.current_time() - scope.deadline < CONFIG.close_timeout
        await server.records[1].ended.wait()
        assert server.records[1].close_code == 1001


async def test_f12_loopback_lost_reasons(server: LoopbackServer) -> None:
    """Abrupt drop, server Close 1001 and a half-open link, over real TCP through the
    chaos proxy: one ConnectionLost per generation, each with its cause, then a
    reconnect."""
    log = EventLog()
    async with ChaosProxy(upstream=("127.0.0.1", server.port)) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/"
        with trio.fail_after(10):
            async with tether.connect(url, config=CONFIG, on_event=log) as session:
                proxy.drop()
                await log.wait_count(events.Connected, 2)
                await session.send("__close__")  # the server closes with 1001
                await log.wait_count(events.Connected, 3)
                stalled_at = trio.current_time()
                proxy.stall()
                lost = await log.wait_count(events.ConnectionLost, 3)
                detected_after = lost.at - stalled_at
                proxy.resume()
                await log.wait_count(events.Connected, 4)
                await session.send("alive")
                assert await session.receive() == "alive"
    lost_events = log.of(events.ConnectionLost)
    assert [(e.generation, e.reason, e.code) for e in lost_events] == [
        (1, LostReason.TRANSPORT_ERROR, 1006),
        (2, LostReason.PEER_CLOSED, 1001),
        (3, LostReason.PING_TIMEOUT, None),
    ]
    # Within ping_interval + ping_timeout of the stall, plus scheduling slack.
    assert detected_after <= 0.2 + 0.2 + 0.1


async def test_reconnect_right_after_send_nowait_closes_with_a_close_frame(
    server: LoopbackServer,
) -> None:
    # The writer task starts already cancelled: nothing of the frame went out, so the
    # stream is whole and the old connection gets its Close frame (1000, not 1006).
    with trio.fail_after(10):
        async with tether.connect(server.url, config=CONFIG) as session:
            session.send_nowait("queued before the reconnect")
            session.reconnect()
            await session.wait_connected()
            assert await session.receive() == "queued before the reconnect"
            await server.records[0].ended.wait()
    assert server.records[0].close_code == 1000
    assert server.records[0].messages == []
    assert server.records[1].messages == ["queued before the reconnect"]
