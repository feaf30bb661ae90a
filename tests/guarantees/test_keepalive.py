"""The pinger (docs/design.md, "Keepalive"): a connection is lost with ``PING_TIMEOUT``
``ping_interval + ping_timeout`` seconds after the last sign of life, and data that
arrives while a pong is late is a sign of life (the pong is queued behind it)."""

from __future__ import annotations

import contextlib

import trio

import tether
from tether import Config, LostReason, events
from tether.testing import ServerConnection, memory_server

from ..helpers import EventLog, silent
from .streams import ScriptedStream, scripted_opener

URL = "ws://tether.test/"
# Pings every 5 s, answered within 1 s; the link takes 0.6 s each way, so every pong
# is 0.2 s late.
CONFIG = Config(ping_interval=5, ping_timeout=1)
ONE_WAY = 0.6


async def test_data_during_a_late_pong_keeps_the_connection(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def ticker(conn: ServerConnection) -> None:
        for n in range(1000):
            await conn.send_message(f"tick {n}")
            await trio.sleep(0.1)

    log = EventLog()
    with trio.fail_after(120):
        async with (
            memory_server(ticker) as server,
            tether.connect(URL, config=CONFIG, opener=server.opener, on_event=log) as session,
        ):
            server.slow(ONE_WAY)
            await trio.sleep(30)
            assert session.generation == 1
            assert session.statistics().last_rtt is None  # no pong was ever in time
    assert log.of(events.ConnectionLost) == []


async def test_a_late_pong_and_no_data_is_a_ping_timeout(autojump_clock: trio.abc.Clock) -> None:
    log = EventLog()
    with trio.fail_after(120):
        async with (
            memory_server(silent) as server,
            tether.connect(URL, config=CONFIG, opener=server.opener, on_event=log),
        ):
            server.slow(ONE_WAY)
            await log.wait_count(events.ConnectionLost, 1)
    (lost,) = log.of(events.ConnectionLost)
    assert (lost.at, lost.reason) == (5 + 1, LostReason.PING_TIMEOUT)


async def test_a_ping_still_waiting_for_the_write_turn_at_its_deadline_is_unanswered(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A data write holds the write turn (the link takes nothing); the ping due at 5 s
    waits for the turn, and at 5 + ping_timeout it counts as a ping without a pong."""
    streams: list[ScriptedStream] = []
    log = EventLog()

    async def send_quietly(session: tether.Session) -> None:
        with contextlib.suppress(tether.TetherError):
            await session.send("held")

    async with (
        memory_server(silent) as server,
        tether.connect(
            URL, config=CONFIG, opener=scripted_opener(server, streams), on_event=log
        ) as session,
        trio.open_nursery() as nursery,
    ):
        await trio.sleep(4)
        streams[0].hold_writes()
        nursery.start_soon(send_quietly, session)
        await log.wait_count(events.ConnectionLost, 1)
        nursery.cancel_scope.cancel()
    (lost,) = log.of(events.ConnectionLost)
    assert (lost.at, lost.reason) == (5 + 1, LostReason.PING_TIMEOUT)
    assert streams[0].held == 1  # the data write only: the ping never took its turn
