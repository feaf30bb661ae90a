"""Application heartbeats (issue 13, item 3): the dialect's ping every interval on the
open connection, its reply within a timeout; a missing reply is a ``PING_TIMEOUT``
loss like a missing WebSocket pong, the round trip is in ``Delivery.statistics()``,
replies never reach ``receive()``, and a slow application is not taken for a dead
server. WebSocket pings are off here (``ping_interval=None``), so only the dialect's
heartbeat watches the link. Virtual clock, memory server, exact times."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio

import tether
from tether import Config, JsonCodec, events
from tether.delivery import Dialect, json_dialect
from tether.delivery import connect as delivery_connect
from tether.testing import JsonDialectServer, memory_server

from ..helpers import EventLog
from .test_outbound import FAST, URL

JSON = json_dialect()

#: FAST without WebSocket pings: the heartbeat alone watches the link.
NO_PINGS = attrs.evolve(FAST, ping_interval=None, ping_timeout=None)


def test_the_json_dialect_heartbeat_is_ping_and_pong_with_renamable_keys() -> None:
    assert JSON.has_heartbeat
    assert JSON.heartbeat(3, 41) == {"ping": 3}
    assert JSON.heartbeat_reply({"pong": 3}) and JSON.heartbeat_reply({"pong": None})
    assert not JSON.heartbeat_reply({"ping": 3}) and not JSON.heartbeat_reply(["pong"])
    renamed = json_dialect(ping="hb", pong="hb_ack")
    assert renamed.heartbeat(1, None) == {"hb": 1}
    assert renamed.heartbeat_reply({"hb_ack": 1}) and not renamed.heartbeat_reply({"pong": 1})
    assert not Dialect().has_heartbeat


async def test_heartbeats_go_every_interval_after_the_reply_and_replies_skip_receive(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = JsonDialectServer()
    async with memory_server(app.handler) as server:
        server.slow(0.5)  # each way: the handshake takes 1 s, a round trip 1 s
        async with delivery_connect(
            URL,
            dialect=JSON,
            codec=JsonCodec(),
            config=NO_PINGS,
            opener=server.opener,
            heartbeat_interval=10,
            heartbeat_timeout=5,
        ) as delivery:
            assert trio.current_time() == 1  # open at 1: heartbeats at 11, 22, 33
            assert (delivery.heartbeat_interval, delivery.heartbeat_timeout) == (10, 5)
            with trio.move_on_after(34.5 - trio.current_time()):
                message = await delivery.receive()
                pytest.fail(f"a heartbeat reply reached receive(): {message!r}")
            stats = delivery.statistics()
            assert (stats.heartbeats_sent, stats.heartbeat_replies) == (3, 3)
            assert stats.last_heartbeat_rtt == 1.0
            assert delivery.session.statistics().last_rtt is None  # the WebSocket Ping's
    assert app.pings == [(1, 11.5), (2, 22.5), (3, 33.5)]
    assert app.received == []  # heartbeats are not the server application's messages


async def test_a_missing_heartbeat_reply_is_a_ping_timeout_at_the_exact_time(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = JsonDialectServer()
    log = EventLog()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=JSON,
            codec=JsonCodec(),
            config=NO_PINGS,
            opener=server.opener,
            on_event=log,
            heartbeat_interval=10,
            heartbeat_timeout=5,
        ) as delivery,
    ):
        await trio.sleep(12)
        app.answer_pings = False  # t=12: the server's application hangs; its link stays up
        await trio.sleep(14)  # t=26: heartbeat 2 at 20 got no reply: lost at 25
        (lost,) = log.of(events.ConnectionLost)
        assert (lost.at, lost.generation, lost.reason) == (25, 1, events.LostReason.PING_TIMEOUT)
        assert lost.detail == "no heartbeat reply within 5.0 s"
        assert server.connections[0].closed_by == "abort"  # taken as dead: no Close
        assert server.connections[0].closed_at == 25
        # Attempt 1 of the outage at once; generation 2 beats from its own start.
        assert server.connections[1].opened_at == 25
        app.answer_pings = True
        await trio.sleep(20)  # t=46
        assert delivery.session.statistics().lost == {events.LostReason.PING_TIMEOUT: 1}
        assert delivery.session.generation == 2
    assert app.pings == [(1, 10), (2, 20), (1, 35), (2, 45)]


async def test_a_stalled_link_is_lost_by_its_heartbeat(autojump_clock: trio.abc.Clock) -> None:
    app = JsonDialectServer()
    log = EventLog()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=JSON,
            codec=JsonCodec(),
            config=NO_PINGS,
            opener=server.opener,
            on_event=log,
            heartbeat_interval=4,
            heartbeat_timeout=3,
        ) as delivery,
    ):
        await trio.sleep(5)
        server.stall()  # t=5: half-open; heartbeat 2 at 8 vanishes: lost at 11
        await delivery.send({"id": "during", "text": "written into the stall"})
        await delivery.wait_acknowledged()  # resent on generation 2, acknowledged there
        assert trio.current_time() == 11
    (lost,) = log.of(events.ConnectionLost)
    assert (lost.at, lost.reason) == (11, events.LostReason.PING_TIMEOUT)
    assert [m["id"] for m in app.received] == ["during"]


async def test_a_slow_application_is_not_taken_for_a_dead_server(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The application does not read; the session's receive buffer fills and its reader
    stops reading the socket, so the pongs wait behind data in the link. No loss: the
    reader waiting for the application proves the server alive (as for a WebSocket
    pong). Once the application reads, everything arrives, in order, once."""
    app = JsonDialectServer()
    log = EventLog()
    config = attrs.evolve(NO_PINGS, receive_buffer=2)
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=JSON,
            codec=JsonCodec(),
            config=config,
            opener=server.opener,
            on_event=log,
            heartbeat_interval=10,
            heartbeat_timeout=5,
        ) as delivery,
    ):
        await trio.sleep(1)
        for n in range(10):
            await app.publish({"n": n})
        await trio.sleep(49)  # t=50: heartbeats at 10, 25, 40: none answered, each excused
        assert log.of(events.ConnectionLost) == []
        assert [n for n, _ in app.pings] == [1, 2, 3]
        assert [t for _, t in app.pings] == [10, 25, 40]
        got = [(await delivery.receive())["n"] for _ in range(10)]
        assert got == list(range(10))
        await trio.sleep(1)
        assert delivery.statistics().heartbeat_replies == 3  # late: they answered nothing
        await trio.sleep(9)  # heartbeat 4 at 55 (an interval after the excuse at 45)
        stats = delivery.statistics()
        assert (stats.heartbeats_sent, stats.heartbeat_replies) == (4, 4)
        assert stats.last_heartbeat_rtt == 0
        assert server.connections[0].closed_at is None
    assert log.of(events.ConnectionLost) == []


async def test_set_heartbeat_starts_reschedules_and_stops_them(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = JsonDialectServer()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=JSON, codec=JsonCodec(), config=NO_PINGS, opener=server.opener
        ) as delivery,
    ):
        assert delivery.heartbeat_interval is None  # off by default
        await trio.sleep(3)
        delivery.set_heartbeat(5, timeout=2)  # due 5 s after the open: at 5, then 10
        await trio.sleep(9)  # t=12
        delivery.set_heartbeat(2, timeout=None)  # due 2 s after the reply at 10: at once
        await trio.sleep(3)  # 12, 14
        delivery.set_heartbeat(None, None)
        await trio.sleep(30)
    assert app.pings == [(1, 5), (2, 10), (3, 12), (4, 14)]


async def test_heartbeat_arguments_are_checked(autojump_clock: trio.abc.Clock) -> None:
    for bad in (0, -1, float("inf"), float("nan"), "5", True):
        with pytest.raises(tether.ConfigError, match="heartbeat_interval: must be"):
            async with delivery_connect(URL, dialect=JSON, heartbeat_interval=bad):
                pass  # pragma: no cover
        with pytest.raises(tether.ConfigError, match="heartbeat_timeout: must be"):
            async with delivery_connect(URL, dialect=JSON, heartbeat_timeout=bad):
                pass  # pragma: no cover
    with pytest.raises(tether.ConfigError, match="heartbeat_interval: the dialect has no"):
        async with delivery_connect(URL, dialect=Dialect(), heartbeat_interval=5):
            pass  # pragma: no cover
    async with (
        memory_server() as server,
        delivery_connect(URL, dialect=Dialect(), config=Config(), opener=server.opener) as d,
    ):
        with pytest.raises(tether.ConfigError, match="set_heartbeat: the dialect has no"):
            d.set_heartbeat(5, 5)
        assert d.heartbeat_interval is None and d.statistics().heartbeats_sent == 0
    async with (
        memory_server() as server,
        delivery_connect(URL, dialect=JSON, codec=JsonCodec(), opener=server.opener) as d,
    ):
        with pytest.raises(tether.ConfigError, match="interval: must be"):
            d.set_heartbeat(0, 5)
        with pytest.raises(tether.ConfigError, match="timeout: must be"):
            d.set_heartbeat(5, -1)
        assert d.heartbeat_interval is None


async def test_a_dialect_heartbeat_can_carry_the_last_sequence_number(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Discord's heartbeat is ``{"op": 1, "d": last_seq}``: the dialect is given it."""
    beats: list[Any] = []
    dialect = attrs.evolve(
        JSON, heartbeat=lambda n, last: beats.append((n, last)) or {"ping": n, "last": last}
    )
    app = JsonDialectServer()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=dialect,
            codec=JsonCodec(),
            config=NO_PINGS,
            opener=server.opener,
            heartbeat_interval=10,
        ) as delivery,
    ):
        await app.publish({"n": 1})
        await app.publish({"n": 2})
        await delivery.receive()
        await delivery.receive()
        await trio.sleep(10.5)
    assert beats == [(1, 2)]
    assert [m for m in server.connections[0].messages if "ping" in m] == ['{"ping":1,"last":2}']


async def test_a_heartbeat_function_that_raises_ends_the_block_with_that_error_alone(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A bug in the dialect is not swallowed, and no ExceptionGroup escapes."""

    def broken(number: int, last: int | None) -> Any:
        raise ValueError("no heartbeat today")

    app = JsonDialectServer()
    with pytest.raises(ValueError, match="no heartbeat today"):
        async with (
            memory_server(app.handler) as server,
            delivery_connect(
                URL,
                dialect=attrs.evolve(JSON, heartbeat=broken),
                codec=JsonCodec(),
                config=NO_PINGS,
                opener=server.opener,
                heartbeat_interval=5,
            ) as delivery,
        ):
            await delivery.receive()
    assert trio.current_time() == 5
