"""``Session.reconnect()``: it ends the current generation (or backoff) and starts a
fresh outage with one immediate attempt, and nothing more (docs/design.md, "Generations").
Expected times are literal: ``Backoff(initial=1, multiplier=2, jitter=False)`` waits 1, 2,
4 ... seconds before attempts 2, 3, 4 ... of an outage (the ``Backoff`` docstring)."""

from __future__ import annotations

import trio
import trio.testing

import tether
from tether import Backoff, Config, events
from tether.testing import echo, memory_server

from ..helpers import EventLog

URL = "ws://tether.test/"
CONFIG = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=8, jitter=False))


async def test_reconnect_during_a_backoff_keeps_the_next_backoff(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=CONFIG, opener=server.opener, on_event=log) as session,
        ):
            # t=0: lost after 0 s open, so the outage of attempt 1 goes on: 1 s to attempt 2
            server.go_down()
            await trio.sleep(0.5)
            session.reconnect()  # fresh outage: attempt 1 now (refused), then 1 s, 2 s
            await trio.sleep(2)
            server.come_back()
            await session.wait_connected()
            assert trio.current_time() == 3.5
    backoffs = [(e.at, e.attempt, e.delay) for e in log.of(events.BackingOff)]
    assert backoffs == [(0, 2, 1.0), (0.5, 2, 1.0), (1.5, 3, 2.0)]
    assert [e.at for e in log.of(events.Connecting)] == [0, 0.5, 1.5, 3.5]


async def test_reconnect_during_a_backoff_leaves_no_skip_for_a_later_loss(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=CONFIG, opener=server.opener, on_event=log) as session,
        ):
            server.go_down()  # t=0: lost after 0 s open: 1 s to attempt 2
            await trio.sleep(0.5)
            server.come_back()
            session.reconnect()  # t=0.5: generation 2 opens at once
            await session.wait_connected()
            await trio.sleep(1)
            await server.close(1012)  # t=1.5: "service restart" waits one step (1 s)
            await trio.sleep(0.1)
            await session.wait_connected()
            assert trio.current_time() == 2.5
    assert [(e.at, e.delay) for e in log.of(events.BackingOff)] == [(0, 1.0), (1.5, 1.0)]
    assert [e.at for e in log.of(events.Connected)] == [0, 0.5, 2.5]


async def test_reconnect_right_after_send_nowait_closes_with_a_close_frame(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        async with (
            memory_server(echo) as server,
            tether.connect(URL, config=CONFIG, opener=server.opener) as session,
        ):
            session.send_nowait("queued before the reconnect")
            session.reconnect()
            await session.wait_connected()
            assert await session.receive() == "queued before the reconnect"
    first, second = server.connections
    assert (first.closed_by, first.close_code) == ("client", 1000)
    assert first.messages == []
    assert second.messages == ["queued before the reconnect"]
