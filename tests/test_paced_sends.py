"""Paced sends (issue 13, item 6): ``Config(send_rate=Rate(...))`` paces every text and
binary message the session writes: direct sends, the writer's coalesced batches, the
flush after an outage, and what ``on_connect`` writes. An exchange-style server that
closes with 1008 above 5 messages a second (Binance's documented limit for market
streams) keeps a session that queued 20 messages during a 3 s outage. Virtual clock,
exact times (the server records when each message arrives; the memory link has no
delay)."""

from __future__ import annotations

import attrs
import pytest
import trio

import tether
from tether import Backoff, Config, Rate, events
from tether.testing import ServerConnection, memory_server

from .helpers import EventLog

URL = "ws://exchange.test/"
BASE = Config(
    ping_interval=None,
    ping_timeout=None,
    backoff=Backoff(initial=1, maximum=8, jitter=False),
)


class Exchange:
    """Records ``(time, message)`` of every message; with ``limit``, closes the
    connection with 1008 once more than ``limit`` arrived within one second (any
    window ``(t - 1, t]``), as an exchange does."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.arrivals: list[list[tuple[float, str | bytes]]] = []

    async def handler(self, conn: ServerConnection) -> None:
        mine: list[tuple[float, str | bytes]] = []
        self.arrivals.append(mine)
        while True:
            message = await conn.get_message()
            now = trio.current_time()
            mine.append((now, message))
            if self.limit is not None:
                recent = [t for t, _ in mine if t > now - 1]
                if len(recent) > self.limit:
                    await conn.aclose(1008, "rate limit exceeded")
                    return

    def times(self, generation: int) -> list[float]:
        return [t for t, _ in self.arrivals[generation - 1]]

    def messages(self, generation: int) -> list[str | bytes]:
        return [m for _, m in self.arrivals[generation - 1]]


def most_in_one_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1) for start in times)


async def test_twenty_messages_at_five_a_second_with_a_burst_of_five_leave_on_the_fifths(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Queued at once (the writer's batches: 5 in the first, then one per token)."""
    app = Exchange()
    config = attrs.evolve(BASE, send_rate=Rate(messages=5, per=1.0, burst=5))
    async with (
        memory_server(app.handler) as server,
        tether.connect(URL, config=config, opener=server.opener) as session,
    ):
        for n in range(20):
            session.send_nowait(str(n))
        await trio.sleep(5)
    assert app.messages(1) == [str(n) for n in range(20)]
    assert app.times(1) == [0.0] * 5 + [k / 5 for k in range(1, 16)]


async def test_sends_awaited_one_by_one_are_paced_too(autojump_clock: trio.abc.Clock) -> None:
    """``await send()`` with nothing queued writes directly when unlimited; under a
    limit it waits for its turn, and returns once written."""
    app = Exchange()
    config = attrs.evolve(BASE, send_rate=Rate(messages=4, per=1.0))
    returned: list[float] = []
    async with (
        memory_server(app.handler) as server,
        tether.connect(URL, config=config, opener=server.opener) as session,
    ):
        for n in range(6):
            await session.send(str(n))
            returned.append(trio.current_time())
        await trio.sleep(1)
    assert app.times(1) == [k / 4 for k in range(6)]
    assert returned == [k / 4 for k in range(6)]


@pytest.mark.parametrize("paced", [True, False])
async def test_the_flush_after_a_3_s_outage_stays_within_an_exchange_s_limit(
    autojump_clock: trio.abc.Clock, paced: bool
) -> None:
    """20 messages queued during a 3 s outage. Paced at Binance's 5 a second (burst 1)
    they arrive one every 0.2 s from the reconnect and the session lives on; unpaced
    they arrive in one burst, the server closes with 1008, and 1008 ends the session."""
    app = Exchange(limit=5)
    log = EventLog()
    config = attrs.evolve(BASE, send_rate=Rate(messages=5, per=1.0) if paced else None)
    with pytest.raises(tether.ReconnectFailed) if not paced else _no_error():
        async with (
            memory_server(app.handler) as server,
            tether.connect(URL, config=config, opener=server.opener, on_event=log) as session,
        ):
            await trio.sleep(1)
            server.go_down()  # t=1: attempt 2 at t=2 is refused; attempt 3 at t=4
            for n in range(20):
                session.send_nowait(str(n))
            await trio.sleep(2.5)
            server.come_back()
            await trio.sleep(10)
    assert server.connections[-1].opened_at == 4
    if paced:
        assert app.messages(2) == [str(n) for n in range(20)]
        assert app.times(2) == [4 + k / 5 for k in range(20)]
        assert most_in_one_second(app.times(2)) == 5
        assert [e.reason for e in log.of(events.ConnectionLost)] == [
            events.LostReason.TRANSPORT_ERROR
        ]
    else:
        assert app.times(2)[:6] == [4.0] * 6  # the sixth in the same instant: closed
        (lost,) = log.of(events.ConnectionLost)[1:]
        assert (lost.reason, lost.code) == (events.LostReason.PEER_CLOSED, 1008)


class _no_error:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def test_what_on_connect_writes_is_paced_and_the_flush_follows_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Exchange()
    config = attrs.evolve(BASE, send_rate=Rate(messages=2, per=1.0))

    async def subscribe(conn: tether.Connection) -> None:
        for channel in ("a", "b", "c"):
            await conn.send(f"subscribe {channel}")

    async with (
        memory_server(app.handler) as server,
        tether.connect(URL, config=config, opener=server.opener, on_connect=subscribe) as session,
    ):
        assert trio.current_time() == 1.0  # on_connect waited for its turns: 0, 0.5, 1
        session.send_nowait("x")
        session.send_nowait("y")
        await trio.sleep(5)
        session.reconnect()  # the bucket is the session's: quiet since 1.5, full again
        await session.wait_connected()
        await trio.sleep(2)
    assert app.messages(1) == ["subscribe a", "subscribe b", "subscribe c", "x", "y"]
    assert app.times(1) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert app.times(2) == [6.0, 6.5, 7.0]
