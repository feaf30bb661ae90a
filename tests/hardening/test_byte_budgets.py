"""Issue 10, item 3: memory is bounded in bytes, not only in messages.

``Config.receive_buffer_bytes`` bounds what the session holds unread (including what is
held for ``on_connect``): the reader stops reading, as for the message count, without a
false ping timeout. ``Config.send_buffer_bytes`` bounds the send buffer under each
``Overflow`` policy. An empty buffer admits one message of any size."""

from __future__ import annotations

import attrs
import pytest
import trio

import tether
from tether import Backoff, Config, Overflow, events
from tether.testing import MemoryServer, ServerConnection, memory_server

from ..helpers import EventLog, silent

URL = "ws://tether.test/"
MiB = 2**20
#: Pings every 5 s, each wanting its pong within 5 s: a blocked reader would be lost
#: with PING_TIMEOUT within 10 s if the pinger held it against the peer.
CONFIG = Config(
    ping_interval=5,
    ping_timeout=5,
    idle_timeout=10,
    receive_buffer_bytes=8 * MiB,
    backoff=Backoff(initial=1, jitter=False),
)


def payload(n: int) -> bytes:
    """Message ``n`` of the push: 1 MiB, its bytes all ``n``."""
    return bytes([n]) * MiB


async def push_64_mib(conn: ServerConnection) -> None:
    """Push 64 messages of 1 MiB at once (the memory link has no flow control), then
    read whatever comes."""
    for n in range(64):
        await conn.send_message(payload(n))
    await silent(conn)


async def test_receive_budget_bounds_what_an_idle_application_holds(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    async with (
        memory_server(push_64_mib) as server,
        tether.connect(URL, config=CONFIG, opener=server.opener, on_event=log) as session,
    ):
        await trio.sleep(60)  # twelve ping intervals, six idle timeouts: nothing read
        statistics = session.statistics()
        assert statistics.receive_buffered == 8
        assert statistics.receive_buffered_bytes == 8 * MiB
        assert log.of(events.ConnectionLost) == []
        received = [await session.receive() for _ in range(64)]
        assert received == [payload(n) for n in range(64)]
        assert session.statistics().receive_buffered_bytes == 0
        assert session.generation == 1
        assert server.connections[0].closed_at is None


async def test_receive_budget_bounds_what_is_held_while_on_connect_runs(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def busy(conn: tether.Connection) -> None:
        await trio.sleep(5)  # reads nothing while the server pushes

    log = EventLog()
    async with (
        memory_server(push_64_mib) as server,
        tether.connect(
            URL, config=CONFIG, opener=server.opener, on_connect=busy, on_event=log
        ) as session,
    ):
        # What was held before serve() is all the receive buffer has now: the reader
        # waited once the budget was reached, and waits still.
        statistics = session.statistics()
        assert (statistics.receive_buffered, statistics.receive_buffered_bytes) == (8, 8 * MiB)
        await trio.sleep(60)
        statistics = session.statistics()
        assert (statistics.receive_buffered, statistics.receive_buffered_bytes) == (8, 8 * MiB)
        assert log.of(events.ConnectionLost) == []
        received = [await session.receive() for _ in range(64)]
        assert received == [payload(n) for n in range(64)]
        assert session.statistics().messages_received == 64
        assert trio.current_time() == 65


async def test_one_message_larger_than_the_receive_budget_still_comes_through(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def push_three(conn: ServerConnection) -> None:
        for n in range(3):
            await conn.send_message(bytes([n]) * 4000)
        await silent(conn)

    config = attrs.evolve(CONFIG, receive_buffer_bytes=1000)
    async with (
        memory_server(push_three) as server,
        tether.connect(URL, config=config, opener=server.opener) as session,
    ):
        await trio.sleep(30)
        statistics = session.statistics()
        assert (statistics.receive_buffered, statistics.receive_buffered_bytes) == (1, 4000)
        assert [await session.receive() for _ in range(3)] == [bytes([n]) * 4000 for n in range(3)]
        assert session.generation == 1


# ---------------------------------------------------------------------------- send


QUIET = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=8, jitter=False))


def received(server: MemoryServer) -> list[str | bytes]:
    return [message for record in server.connections for message in record.messages]


async def test_send_budget_under_raise(autojump_clock: trio.abc.Clock) -> None:
    config = attrs.evolve(QUIET, send_buffer_bytes=10, overflow=Overflow.RAISE)
    async with memory_server(silent) as server:
        async with tether.connect(URL, config=config, opener=server.opener) as session:
            server.go_down()
            await trio.sleep(0.5)
            session.send_nowait("aaaa")
            session.send_nowait("bbbb")
            with pytest.raises(tether.SendBufferFull, match="8 of 10 bytes"):
                session.send_nowait("cccc")
            with pytest.raises(tether.SendBufferFull, match="bytes"):
                await session.send("cccc")
            statistics = session.statistics()
            assert (statistics.send_buffered, statistics.send_buffered_bytes) == (2, 8)
            session.send_nowait("dd")  # exactly fills the budget
            statistics = session.statistics()
            assert (statistics.send_buffered, statistics.send_buffered_bytes) == (3, 10)
            server.come_back()
            await session.wait_connected()
        assert received(server) == ["aaaa", "bbbb", "dd"]
        assert session.statistics().send_buffered_bytes == 0


async def test_send_budget_under_drop_oldest_evicts_until_it_fits(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = attrs.evolve(QUIET, send_buffer_bytes=10, overflow=Overflow.DROP_OLDEST)
    log = EventLog()
    async with memory_server(silent) as server:
        async with tether.connect(
            URL, config=config, opener=server.opener, on_event=log
        ) as session:
            server.go_down()
            await trio.sleep(0.5)
            for message in ("aaaa", "bbbb", "cc"):
                session.send_nowait(message)
            session.send_nowait("eeeeee")  # 16 > 10 bytes: evicts aaaa and bbbb
            assert [e.count for e in log.of(events.MessagesDropped)] == [2]
            statistics = session.statistics()
            assert (statistics.send_buffered, statistics.send_buffered_bytes) == (2, 8)
            session.send_nowait("x" * 20)  # larger than the budget: evicts all, admitted
            assert [e.count for e in log.of(events.MessagesDropped)] == [2, 2]
            statistics = session.statistics()
            assert (statistics.send_buffered, statistics.send_buffered_bytes) == (1, 20)
            assert statistics.messages_dropped == 4
            server.come_back()
            await session.wait_connected()
        assert received(server) == ["x" * 20]


async def test_send_budget_under_block_waits_for_room(autojump_clock: trio.abc.Clock) -> None:
    config = attrs.evolve(QUIET, send_buffer_bytes=10)
    sent_at: list[float] = []
    async with memory_server(silent) as server:
        async with tether.connect(URL, config=config, opener=server.opener) as session:
            server.go_down()
            await trio.sleep(0.5)
            session.send_nowait("aaaa")
            session.send_nowait("bbbb")
            with pytest.raises(tether.SendBufferFull, match="8 of 10 bytes"):
                session.send_nowait("cccc")

            async def blocked_sender() -> None:
                await session.send("cccc")
                sent_at.append(trio.current_time())

            async with trio.open_nursery() as nursery:
                nursery.start_soon(blocked_sender)
                await trio.sleep(20)
                assert sent_at == []
                statistics = session.statistics()
                assert (statistics.send_buffered, statistics.send_buffered_bytes) == (2, 8)
                server.come_back()
            assert len(sent_at) == 1
            assert sent_at[0] > 20
            session.send_nowait("y" * 20)  # larger than the budget, into an empty buffer
        assert received(server) == ["aaaa", "bbbb", "cccc", "y" * 20]


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize("field", ["send_buffer_bytes", "receive_buffer_bytes"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "16", None])
def test_byte_budgets_refuse_nonsense(field: str, value: object) -> None:
    with pytest.raises(tether.ConfigError, match=f"^{field}: "):
        Config(**{field: value})  # type: ignore[arg-type]


def test_byte_budgets_default_to_16_mib_and_load_from_a_mapping() -> None:
    config = Config()
    assert (config.send_buffer_bytes, config.receive_buffer_bytes) == (16 * MiB, 16 * MiB)
    loaded = Config.from_mapping({"send_buffer_bytes": 4096, "receive_buffer_bytes": 1})
    assert (loaded.send_buffer_bytes, loaded.receive_buffer_bytes) == (4096, 1)
