"""Health checks of an open generation: the pinger (``ping_interval`` /
``ping_timeout``, RFC 6455 section 5.5.2) and the idle watchdog (``idle_timeout``).

Both treat a slow application as alive: while the receive buffer is full (backpressure:
the reader has stopped reading the socket), a missing pong or a silent socket proves
nothing about the peer, so neither ends the connection.
"""

from __future__ import annotations

import trio

from ..connection import ClientConnection, ConnectionClosed, PingWaiter, lost_error
from ..events import LostReason
from ..exceptions import ConnectionLostError
from ._buffers import ReceiveBuffer
from ._counters import Counters
from ._generation import Generation

__all__ = ["Pinger", "peer_proved_alive", "watch_idle"]


def peer_proved_alive(generation: Generation, receive_buffer: ReceiveBuffer, since: float) -> bool:
    """Whether the peer of ``generation`` proved itself alive although an answer it
    owes (a pong, an application heartbeat's reply) asked for at ``since`` has not come:
    a message arrived after ``since`` (the answer is queued behind it), or the reader
    is waiting for the application to make room (it is not reading the socket, so the
    answer may be there, unread). The rule of the pinger and of
    ``Session.heartbeat_missed``."""
    return receive_buffer.blocked or generation.last_data_at > since


class Pinger:
    """The pinger of one open generation, as a state the generation's own task drives
    between its waits (no task of its own: an idle session holds one task fewer).

    Pings every ``interval`` seconds after the last pong (or the open); ends the
    generation with ``PING_TIMEOUT`` when no pong comes within ``pong_within`` seconds
    of a ping and no data arrived meanwhile. A half-open link is thus lost within
    ``interval + pong_within`` seconds. Records the round trip of each answered ping in
    ``counters.last_rtt``. The driver waits until :attr:`wake_at` (or until woken by a
    pong, ``Sink.pong_received``), then calls :meth:`tick`.
    """

    __slots__ = (
        "_counters",
        "_generation",
        "_interval",
        "_pong_within",
        "_receive_buffer",
        "_sent_at",
        "_waiter",
        "_ws",
        "wake_at",
    )

    def __init__(
        self,
        generation: Generation,
        ws: ClientConnection,
        interval: float,
        pong_within: float,
        receive_buffer: ReceiveBuffer,
        counters: Counters,
    ) -> None:
        self._generation = generation
        self._ws = ws
        self._interval = interval
        self._pong_within = pong_within
        self._receive_buffer = receive_buffer
        self._counters = counters
        self._waiter: PingWaiter | None = None
        self._sent_at = 0.0
        #: When :meth:`tick` has something to do (``trio.current_time()`` seconds).
        self.wake_at = trio.current_time() + interval

    async def tick(self) -> None:
        """Do what is due now: take a pong, send the next ping, or judge a missing
        pong. Sending waits for the write turn, at most until the pong deadline."""
        now = trio.current_time()
        waiter = self._waiter
        if waiter is not None and waiter.answered_at is not None:
            self._take_pong(waiter.answered_at)
        elif now < self.wake_at:
            return  # woken early (a close request, a state change): nothing due
        elif waiter is None:
            await self._ping(now)
            waiter = self._waiter
            if waiter is not None and waiter.answered_at is not None:
                # The pong came while the ping's own write yielded: its wake-up found
                # nobody waiting, so take it now.
                self._take_pong(waiter.answered_at)
        else:
            self._no_pong_in_time(waiter, now)

    def _take_pong(self, answered_at: float) -> None:
        self._waiter = None
        self._counters.last_rtt = answered_at - self._sent_at
        self.wake_at = answered_at + self._interval

    async def _ping(self, now: float) -> None:
        self._sent_at = now
        self.wake_at = deadline = now + self._pong_within
        ws = self._ws
        with trio.move_on_at(deadline):
            try:
                self._waiter = await ws.send_ping()
            except ConnectionClosed:
                self._generation.end(lost_error(ws))
            return
        # Still waiting for the write turn at the deadline: no pong in time either.
        self._no_pong_in_time(None, deadline)

    def _no_pong_in_time(self, waiter: PingWaiter | None, now: float) -> None:
        if waiter is not None:
            self._ws.forget_ping(waiter)  # a late pong is now unsolicited
            self._waiter = None
        # (Had the reader left with the connection, its sink would have ended the
        # generation first: the first outcome decided wins.)
        # Data that arrived meanwhile, or a reader waiting on the application, proves
        # the peer alive: the pong is queued behind that data.
        if peer_proved_alive(self._generation, self._receive_buffer, self._sent_at):
            self.wake_at = now + self._interval
            return
        self._generation.end(
            ConnectionLostError(
                LostReason.PING_TIMEOUT, None, f"no pong within {self._pong_within} s of a ping"
            )
        )


async def watch_idle(
    generation: Generation, idle_limit: float, receive_buffer: ReceiveBuffer
) -> None:
    """End the generation with ``IDLE_TIMEOUT`` once no message arrived for
    ``idle_limit`` seconds while the application was reading."""
    while True:
        await trio.sleep_until(generation.last_data_at + idle_limit)
        if receive_buffer.blocked:
            # The application is not reading; the reader restarts the clock once it
            # does. Look again one period later (sleep_until a past deadline would
            # return at once and spin).
            await trio.sleep(idle_limit)
            continue
        if trio.current_time() >= generation.last_data_at + idle_limit:
            generation.end(
                ConnectionLostError(LostReason.IDLE_TIMEOUT, None, f"no message for {idle_limit} s")
            )
            return
