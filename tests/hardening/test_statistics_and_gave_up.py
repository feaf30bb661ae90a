"""Issue 10, item 9: ``statistics()`` counts what ``on_connect`` sends and receives, and
``GaveUp`` names the generation of the attempt that ended the session."""

from __future__ import annotations

import pytest
import trio

import tether
from tether import Backoff, Config, events
from tether.testing import ServerConnection, memory_server

from ..helpers import EventLog

URL = "ws://tether.test/"
CONFIG = Config(ping_interval=None, backoff=Backoff(initial=1, jitter=False))


async def subscribe_then_echo(conn: ServerConnection) -> None:
    """Acknowledge two subscriptions with one message, then echo."""
    await conn.get_message()
    await conn.get_message()
    await conn.send_message("ack")
    while True:
        await conn.send_message(await conn.get_message())


async def test_statistics_count_what_on_connect_sends_and_receives(
    autojump_clock: trio.abc.Clock,
) -> None:
    seen_by_on_connect: list[int] = []

    async def subscribe(conn: tether.Connection) -> None:
        seen_by_on_connect.append(conn.messages_received)
        await conn.send("subscribe a")
        await conn.send("subscribe b")
        assert await conn.receive() == "ack"

    async with memory_server(subscribe_then_echo) as server:
        with trio.fail_after(60):
            async with tether.connect(
                URL, config=CONFIG, opener=server.opener, on_connect=subscribe
            ) as session:
                statistics = session.statistics()
                assert (statistics.messages_sent, statistics.messages_received) == (2, 1)
                await session.send("ping")
                assert await session.receive() == "ping"
                statistics = session.statistics()
                assert (statistics.messages_sent, statistics.messages_received) == (3, 2)
                session.reconnect()
                await session.wait_connected()
                statistics = session.statistics()
                assert (statistics.messages_sent, statistics.messages_received) == (5, 3)
    assert seen_by_on_connect == [0, 2]
    assert [c.messages for c in server.connections] == [
        ["subscribe a", "subscribe b", "ping"],
        ["subscribe a", "subscribe b"],
    ]


def ending(log: EventLog) -> list[tuple[str, int]]:
    """(kind, generation) of every event but ``Closed``."""
    return [(type(e).__name__, e.generation) for e in log.items if type(e) is not events.Closed]


async def test_gave_up_names_the_attempt_that_never_opened(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Generation 1 is lost, generation 2's attempts are refused until the policy gives
    up: ``GaveUp`` is generation 2's, like the ``BackingOff`` before it."""
    log = EventLog()
    config = Config(ping_interval=None, max_attempts=2, backoff=Backoff(initial=1, jitter=False))
    async with memory_server() as server:
        with trio.fail_after(60), pytest.raises(tether.ReconnectFailed):
            async with tether.connect(
                URL, config=config, opener=server.opener, on_event=log
            ) as session:
                await trio.sleep(10)  # stable: its loss starts a fresh outage
                server.go_down()
                await session.receive()
    assert ending(log) == [
        ("Connecting", 1),
        ("Connected", 1),
        ("ConnectionLost", 1),
        ("Connecting", 2),
        ("BackingOff", 2),
        ("Connecting", 2),
        ("GaveUp", 2),
    ]
    assert [e.at for e in log.of(events.Connecting)] == [0, 10, 11]
    assert log.of(events.GaveUp)[0].at == 11
    assert log.of(events.GaveUp)[0].exhausted  # max_attempts ran out


async def test_gave_up_names_the_generation_whose_loss_was_fatal(
    autojump_clock: trio.abc.Clock,
) -> None:
    """An open generation ended by a fatal Close 1008: its own number (this case was
    already right; it pins the rule's other half)."""
    log = EventLog()
    async with memory_server() as server:
        with trio.fail_after(60), pytest.raises(tether.ReconnectFailed):
            async with tether.connect(
                URL, config=CONFIG, opener=server.opener, on_event=log
            ) as session:
                session.reconnect()
                await session.wait_connected()
                await server.close(1008)
                await session.receive()
    assert ending(log)[-2:] == [("ConnectionLost", 2), ("GaveUp", 2)]
    assert not log.of(events.GaveUp)[0].exhausted  # fatal, not given up


async def test_gave_up_names_a_rejected_attempt(autojump_clock: trio.abc.Clock) -> None:
    """A fatal 401: before any generation opened (generation 1), and after one did."""
    log = EventLog()
    async with memory_server() as server:
        server.reject(1, status=401)
        with trio.fail_after(60), pytest.raises(tether.HandshakeRejected):
            async with tether.connect(URL, config=CONFIG, opener=server.opener, on_event=log):
                pass  # pragma: no cover - it never opens
    assert ending(log) == [("Connecting", 1), ("GaveUp", 1)]
    assert not log.of(events.GaveUp)[0].exhausted

    log = EventLog()
    async with memory_server() as server:
        with trio.fail_after(60), pytest.raises(tether.HandshakeRejected):
            async with tether.connect(
                URL, config=CONFIG, opener=server.opener, on_event=log
            ) as session:
                await trio.sleep(10)
                server.reject(1, status=401)
                server.drop()
                await session.receive()
    assert ending(log) == [
        ("Connecting", 1),
        ("Connected", 1),
        ("ConnectionLost", 1),
        ("Connecting", 2),
        ("GaveUp", 2),
    ]
