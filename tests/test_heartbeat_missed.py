"""``Session.heartbeat_missed()``: the core hook through which a layer above (the
delivery layer's application heartbeats) reports a missing reply. It is judged by the
pinger's rule: data since, or a reader waiting for the application, proves the peer
alive; otherwise that connection is lost with ``PING_TIMEOUT``, as for a pong."""

from __future__ import annotations

import trio

import tether
from tether import events
from tether.testing import ServerConnection, memory_server

from .helpers import EventLog

URL = "ws://core.test/"
NO_PINGS = tether.Config(ping_interval=None, ping_timeout=None)


async def test_a_missed_heartbeat_ends_only_the_connection_it_names_unless_data_came(
    autojump_clock: trio.abc.Clock,
) -> None:
    sent: list[trio.Event] = []

    async def talk(conn: ServerConnection) -> None:
        while True:
            event = trio.Event()
            sent.append(event)
            await event.wait()
            await conn.send_message("data")

    log = EventLog()
    async with (
        memory_server(talk) as server,
        tether.connect(URL, config=NO_PINGS, opener=server.opener, on_event=log) as session,
    ):
        await trio.sleep(1)
        sent[-1].set()  # a message at t=1, after a heartbeat "sent" at 0.5
        assert await session.receive() == "data"
        assert not session.heartbeat_missed(1, 0.5, "no reply")
        assert not session.heartbeat_missed(2, 0.5, "no reply")  # not the open one
        await trio.sleep(1)
        assert session.heartbeat_missed(1, 1.5, "no reply within 3 s")
        assert not session.heartbeat_missed(1, 1.5, "again")  # ended already
        await session.wait_connected()
        assert session.generation == 2
    (lost,) = log.of(events.ConnectionLost)
    assert (lost.at, lost.generation, lost.reason) == (2, 1, events.LostReason.PING_TIMEOUT)
    assert lost.detail == "no reply within 3 s"
    assert server.connections[0].closed_by == "abort"


async def test_a_reader_waiting_for_the_application_excuses_a_missed_heartbeat(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def flood(conn: ServerConnection) -> None:
        for n in range(5):
            await conn.send_message(str(n))
        await trio.sleep_forever()

    config = tether.Config(ping_interval=None, ping_timeout=None, receive_buffer=2)
    async with (
        memory_server(flood) as server,
        tether.connect(URL, config=config, opener=server.opener) as session,
    ):
        await trio.sleep(10)  # the buffer is full at t=0: the reader waits for room
        assert not session.heartbeat_missed(1, 5, "no reply")
        assert [await session.receive() for _ in range(5)] == ["0", "1", "2", "3", "4"]
        await trio.sleep(1)
        assert session.heartbeat_missed(1, 10.5, "no reply")
