"""``Session.ping()``: a Ping on the open connection, the round trip on Trio's clock,
waiting for a connection when none is open, and a connection lost under the ping."""

from __future__ import annotations

import pytest
import trio

import tether
from tether import Config, ConnectionLostError, SessionClosed
from tether.testing import memory_server

URL = "ws://tether.test/"
CONFIG = Config(ping_interval=None, backoff=tether.Backoff(initial=1, jitter=False))


async def test_ping_returns_the_round_trip_and_records_it(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=CONFIG, opener=server.opener) as session,
        ):
            server.slow(0.25)  # each way
            assert await session.ping() == 0.5
            assert session.statistics().last_rtt == 0.5


async def test_ping_waits_for_a_connection_when_none_is_open(
    autojump_clock: trio.abc.Clock,
) -> None:
    connected: list[float] = []
    answered: list[float] = []

    def on_event(event: tether.events.Event) -> None:
        if isinstance(event, tether.events.Connected):
            connected.append(event.at)

    async def ping(session: tether.Session) -> None:
        assert await session.ping() == 0.0
        answered.append(trio.current_time())

    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=CONFIG, opener=server.opener, on_event=on_event) as s,
        ):
            await trio.sleep(10)
            server.go_down()
            await trio.sleep(3)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ping, s)
                await trio.sleep(2)
                assert answered == []  # still waiting: no connection
                server.come_back()
    # Answered the moment generation 2 opened, after the server came back at t=15.
    assert len(connected) == 2 and connected[1] >= 15
    assert answered == [connected[1]]


async def test_a_connection_lost_under_the_ping_raises_connection_lost(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=CONFIG, opener=server.opener) as session,
        ):
            server.stall()  # the Pong never comes
            async with trio.open_nursery() as nursery:

                async def drop_later() -> None:
                    await trio.sleep(5)
                    server.drop()

                nursery.start_soon(drop_later)
                with pytest.raises(ConnectionLostError):
                    await session.ping()
            assert trio.current_time() == 5
            assert await session.ping() == 0.0  # the next generation answers


async def test_ping_on_a_closed_session_raises_session_closed(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with memory_server() as server:
        async with tether.connect(URL, config=CONFIG, opener=server.opener) as session:
            await session.aclose()
        with pytest.raises(SessionClosed):
            await session.ping()
