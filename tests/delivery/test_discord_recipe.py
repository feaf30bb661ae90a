"""The Discord-style gateway recipe of docs/delivery.md (issue 13, item 8), run as
written against a fake gateway of that kind: HELLO with the heartbeat interval,
IDENTIFY and READY, numbered dispatches, RESUME with ``session_id`` and ``seq`` after a
non-1000 close (the missed dispatches replayed, each handled once), heartbeats with
the last ``seq`` and their acks, op 7 RECONNECT and op 9 INVALID SESSION. Virtual clock,
exact times."""

from __future__ import annotations

import json
import random
from typing import Any

import trio
import trio_websocket

import tether
from tether import events
from tether.delivery import Dialect
from tether.testing import ConnectionRecord, MemoryServer, ServerConnection, memory_server

from ..helpers import EventLog
from .test_delivery_docs import Routed, block

RECIPE = "Recipe: a Discord-style gateway"
URL = "wss://gateway.example/?v=10&encoding=json"


class FakeGateway:
    """A gateway of Discord's kind, its sessions outliving connections.

    On every connection: HELLO (``heartbeat_interval`` ms), then the client's first
    message: IDENTIFY starts a session (READY is its dispatch 1), RESUME of a valid
    session replays the dispatches after its ``seq`` (all of them with
    ``replay_all``: a server that replays too much) and sends RESUMED; RESUME of an
    unknown or invalidated session gets op 9 ``false``; so does one whose connection
    the client closed with 1000 or 1001, as Discord's does. Heartbeats (op 1) are acked
    (op 11) unless ``ack_heartbeats`` is off.

    Attributes:
        firsts: each connection's first client message.
        heartbeats: ``(time, d)`` of every heartbeat.
    """

    def __init__(self, heartbeat_ms: int = 10_000) -> None:
        self.heartbeat_ms = heartbeat_ms
        self.dispatched: dict[str, list[dict[str, Any]]] = {}
        self.valid: set[str] = set()
        self._served: dict[str, list[ConnectionRecord]] = {}
        self.current: tuple[ServerConnection, str] | None = None
        self.firsts: list[dict[str, Any]] = []
        self.heartbeats: list[tuple[float, Any]] = []
        self.ack_heartbeats = True
        self.replay_all = False
        self._lock = trio.Lock()
        self._ready = trio.lowlevel.ParkingLot()

    async def handler(self, conn: ServerConnection) -> None:
        await conn.send_message(
            json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
        )
        first = json.loads(await conn.get_message())
        self.firsts.append(first)
        await self._start(conn, first)
        while True:
            message = json.loads(await conn.get_message())
            if message["op"] == 1:
                self.heartbeats.append((trio.current_time(), message["d"]))
                if self.ack_heartbeats:
                    await self._send(conn, {"op": 11})

    def _resumable(self, session_id: str) -> bool:
        """Valid, and none of its connections was closed by the client with 1000 or
        1001 (as the connection records tell: the first Close frame and who sent it)."""
        return session_id in self.valid and not any(
            record.closed_by == "client" and record.close_code in (1000, 1001)
            for record in self._served[session_id]
        )

    async def _start(self, conn: ServerConnection, first: dict[str, Any]) -> None:
        async with self._lock:
            if first["op"] == 2:
                session_id = f"session-{len(self.dispatched) + 1}"
                self.dispatched[session_id] = []
                self.valid.add(session_id)
                self._served[session_id] = [conn.record]
                self.current = (conn, session_id)
                await self._number(session_id, "READY", {"session_id": session_id})
                self._ready.unpark_all()
                return
            session_id = first["d"]["session_id"]
            if not self._resumable(session_id):
                await conn.send_message(json.dumps({"op": 9, "d": False}))
                return
            self._served[session_id].append(conn.record)
            start = 0 if self.replay_all else first["d"]["seq"]
            for event in self.dispatched[session_id][start:]:
                await conn.send_message(json.dumps(event))
            await conn.send_message(json.dumps({"op": 0, "t": "RESUMED", "s": None, "d": {}}))
            self.current = (conn, session_id)

    async def _number(self, session_id: str, kind: str, data: Any) -> None:
        events = self.dispatched[session_id]
        event = {"op": 0, "t": kind, "s": len(events) + 1, "d": data}
        events.append(event)
        if self.current is not None and self.current[1] == session_id:
            try:
                await self.current[0].send_message(json.dumps(event))
            except trio_websocket.ConnectionClosed:
                self.current = None

    async def dispatch(self, kind: str, data: Any) -> None:
        """Number an event in the current session and send it (or keep it for the
        RESUME, if the client is away)."""
        async with self._lock:
            session_id = list(self.dispatched)[-1]
            await self._number(session_id, kind, data)

    async def send_op(self, op: int, d: Any = None) -> None:
        """Send an opcode (7 RECONNECT, 9 INVALID SESSION) on the current connection."""
        assert self.current is not None
        await self._send(self.current[0], {"op": op, "d": d})

    def invalidate(self) -> None:
        """The current session cannot be resumed any more."""
        assert self.current is not None
        self.valid.discard(self.current[1])

    async def wait_sessions(self, n: int) -> None:
        while len(self.dispatched) < n:
            await self._ready.park()

    async def _send(self, conn: ServerConnection, message: dict[str, Any]) -> None:
        async with self._lock:
            await conn.send_message(json.dumps(message))


class Bot:
    """Runs the recipe's ``Gateway`` against ``server``; ``handled`` is what its
    ``handle`` got: ``(t, s, d)`` of each dispatch."""

    def __init__(self, server: MemoryServer, log: EventLog) -> None:
        self.routed = Routed(server)
        self.log = log
        self.handled: list[tuple[str, int, Any]] = []

    async def handle(self, message: dict[str, Any]) -> None:
        self.handled.append((message["t"], message["s"], message["d"]))

    @property
    def delivery(self) -> Any:
        return self.routed.made[-1]


async def start(nursery: trio.Nursery, server: MemoryServer, app: FakeGateway) -> tuple[Bot, Any]:
    log = EventLog()
    bot = Bot(server, log)

    def connect(url: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("on_event", log)
        kwargs.setdefault("rng", random.Random(7))
        return bot.routed.connect(url, **kwargs)

    made = await block(RECIPE, Dialect=Dialect, connect=connect, tether=tether)()
    gateway = made["Gateway"]("t0ken")
    nursery.start_soon(gateway.run, URL, bot.handle)
    await app.wait_sessions(1)
    await trio.sleep(0.5)
    return bot, gateway


async def test_a_resume_after_a_4000_close_replays_the_missed_dispatches_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = FakeGateway()
    async with memory_server(app.handler) as server, trio.open_nursery() as nursery:
        bot, gateway = await start(nursery, server, app)
        assert gateway.session_id == "session-1"
        await app.dispatch("MESSAGE_CREATE", "one")  # s=2
        await app.dispatch("MESSAGE_CREATE", "two")  # s=3
        await trio.sleep(6)  # t=6.5: the connection is stable (5 s): retried at once
        server.refuse(1)  # ... but refused: the next attempt after the backoff
        app.replay_all = True  # and the server will replay everything, READY included
        await server.close(4000)  # t=6.5: Discord's "unknown error": reconnect, resume
        await app.dispatch("MESSAGE_CREATE", "three")  # s=4, while the client is away
        await app.dispatch("MESSAGE_CREATE", "four")  # s=5
        await server.wait_connections(2)
        await trio.sleep(1)
        assert app.firsts == [
            {"op": 2, "d": {"token": "t0ken", "intents": 513}},
            {"op": 6, "d": {"token": "t0ken", "session_id": "session-1", "seq": 3}},
        ]
        assert bot.handled == [
            ("MESSAGE_CREATE", 2, "one"),
            ("MESSAGE_CREATE", 3, "two"),
            ("MESSAGE_CREATE", 4, "three"),
            ("MESSAGE_CREATE", 5, "four"),
        ]
        stats = bot.delivery.statistics()
        assert (stats.duplicates_dropped, stats.gaps, stats.last_sequence) == (3, 0, 5)
        (lost,) = bot.log.of(events.ConnectionLost)
        assert (lost.reason, lost.code) == (events.LostReason.PEER_CLOSED, 4000)
        nursery.cancel_scope.cancel()


async def test_an_invalid_session_starts_a_fresh_one(autojump_clock: trio.abc.Clock) -> None:
    app = FakeGateway()
    async with memory_server(app.handler) as server, trio.open_nursery() as nursery:
        bot, gateway = await start(nursery, server, app)
        await app.dispatch("MESSAGE_CREATE", "one")  # s=2 of session 1
        app.invalidate()
        await app.send_op(9, False)  # t=0.5: not resumable
        await app.wait_sessions(2)
        await trio.sleep(0.5)
        assert gateway.session_id == "session-2"
        await app.dispatch("MESSAGE_CREATE", "fresh")  # s=2 of session 2: not a duplicate
        await trio.sleep(0.5)
        assert [first["op"] for first in app.firsts] == [2, 2]  # IDENTIFY again
        assert bot.handled == [("MESSAGE_CREATE", 2, "one"), ("MESSAGE_CREATE", 2, "fresh")]
        assert bot.delivery.statistics().duplicates_dropped == 0
        assert server.connections[0].close_code == 4000  # reconnect(code=4000)
        assert server.connections[0].closed_by == "client"
        nursery.cancel_scope.cancel()


async def test_op_7_reconnects_with_4000_and_resumes(autojump_clock: trio.abc.Clock) -> None:
    app = FakeGateway()
    async with memory_server(app.handler) as server, trio.open_nursery() as nursery:
        bot, _ = await start(nursery, server, app)
        await app.dispatch("GUILD_CREATE", "g")  # s=2
        await app.send_op(7)
        await server.wait_connections(2)
        await trio.sleep(0.5)
        assert app.firsts[1] == {
            "op": 6,
            "d": {"token": "t0ken", "session_id": "session-1", "seq": 2},
        }
        assert (server.connections[0].close_code, server.connections[0].closed_by) == (
            4000,
            "client",
        )
        await app.dispatch("GUILD_CREATE", "h")
        await trio.sleep(0.5)
        assert bot.handled == [("GUILD_CREATE", 2, "g"), ("GUILD_CREATE", 3, "h")]
        nursery.cancel_scope.cancel()


async def test_heartbeats_at_hello_s_interval_and_a_zombie_connection_is_resumed(
    autojump_clock: trio.abc.Clock,
) -> None:
    """HELLO names 10 s: heartbeats at 10, 20 ... carrying the last ``s``, each acked.
    Once acks stop, the next heartbeat's missing ack ends that connection at +10 s
    (``PING_TIMEOUT``, no Close frame: the session stays valid) and the bot resumes."""
    app = FakeGateway(heartbeat_ms=10_000)
    async with memory_server(app.handler) as server, trio.open_nursery() as nursery:
        bot, _ = await start(nursery, server, app)
        assert bot.delivery.heartbeat_interval == 10.0
        await app.dispatch("MESSAGE_CREATE", "one")  # s=2, at t=0.5
        await trio.sleep(21 - trio.current_time())  # heartbeats at 10 and 20
        app.ack_heartbeats = False
        await trio.sleep(20)  # t=41: the heartbeat at 30 got no ack: lost at 40
        assert app.heartbeats[:3] == [(10, 2), (20, 2), (30, 2)]
        (lost,) = bot.log.of(events.ConnectionLost)
        assert (lost.at, lost.reason) == (40, events.LostReason.PING_TIMEOUT)
        assert server.connections[0].closed_by == "abort"
        assert app.firsts[1]["op"] == 6  # RESUME: the session was not ended
        assert server.connections[1].opened_at == 40
        app.ack_heartbeats = True
        await trio.sleep(20)  # t=61
        assert app.heartbeats[3:] == [(50, 2), (60, 2)]  # generation 2 from its own start
        assert len(bot.log.of(events.ConnectionLost)) == 1
        nursery.cancel_scope.cancel()
