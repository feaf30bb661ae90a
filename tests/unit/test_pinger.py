"""``Pinger`` (session/_keepalive.py) on its own, with a connection stand-in: what it
does when the Pong comes while its Ping's own write yields (on real sockets the reader
can take the Pong before the pinger's task resumes)."""

from __future__ import annotations

import trio

from tether.connection import PingWaiter
from tether.session._buffers import ReceiveBuffer
from tether.session._counters import Counters
from tether.session._generation import Generation
from tether.session._keepalive import Pinger


class AnsweredAtOnce:
    """A connection whose Pong arrives during the Ping's write."""

    def __init__(self) -> None:
        self.sent: list[float] = []

    async def send_ping(self) -> PingWaiter:
        self.sent.append(trio.current_time())
        await trio.sleep(0.001)  # the write yields; the reader takes the Pong meanwhile
        waiter = PingWaiter(b"ping", None)
        waiter.answer(trio.current_time())
        return waiter

    def forget_ping(self, waiter: PingWaiter) -> None:
        pass


async def test_a_pong_taken_during_the_pings_write_schedules_the_next_ping(
    autojump_clock: trio.abc.Clock,
) -> None:
    ws = AnsweredAtOnce()
    counters = Counters()
    generation = Generation(1, None, 1)
    pinger = Pinger(generation, ws, 0.2, 20.0, ReceiveBuffer(16, 2**20), counters)  # type: ignore[arg-type]
    assert pinger.wake_at == 0.2
    await trio.sleep_until(pinger.wake_at)
    await pinger.tick()
    # Answered at 0.201: the round trip is recorded and the next ping is due 0.2 s
    # later, not at the pong deadline (0.2 + 20 s).
    assert counters.last_rtt == 0.2 + 0.001 - 0.2
    assert pinger.wake_at == 0.2 + 0.001 + 0.2
    await trio.sleep_until(pinger.wake_at)
    await pinger.tick()
    assert ws.sent == [0.2, 0.2 + 0.001 + 0.2]
    assert generation.outcome is None
