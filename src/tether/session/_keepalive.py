"""Health checks of an open generation: the pinger (``ping_interval`` /
``ping_timeout``, RFC 6455 section 5.5.2) and the idle watchdog (``idle_timeout``).

Both treat a slow application as alive: while the receive buffer is full (backpressure:
the reader has stopped reading the socket), a missing pong or a silent socket proves
nothing about the peer, so neither ends the connection.
"""

from __future__ import annotations

import trio

from ..connection import ClientConnection, ConnectionClosed, lost_error
from ..events import LostReason
from ..exceptions import ConnectionLostError
from ._buffers import ReceiveBuffer
from ._counters import Counters
from ._generation import Generation

__all__ = ["keep_pinging", "watch_idle"]


async def keep_pinging(
    generation: Generation,
    ws: ClientConnection,
    interval: float,
    pong_within: float,
    receive_buffer: ReceiveBuffer,
    counters: Counters,
) -> None:
    """Ping every ``interval`` seconds; end the generation with ``PING_TIMEOUT`` when
    no pong comes within ``pong_within`` seconds and no data arrived meanwhile. A
    half-open link is thus lost within ``interval + pong_within`` seconds. Records the
    round trip of each answered ping in ``counters.last_rtt``."""
    while True:
        await trio.sleep(interval)
        sent_at = trio.current_time()
        with trio.move_on_after(pong_within) as pong_wait:
            try:
                await ws.ping()
            except ConnectionClosed:
                generation.end(lost_error(ws))
                return
        if not pong_wait.cancelled_caught:
            counters.last_rtt = trio.current_time() - sent_at
            continue
        # No pong in time. Data that arrived meanwhile, or a reader waiting on the
        # application, proves the peer alive: the pong is queued behind that data.
        if receive_buffer.blocked or generation.last_data_at > sent_at:
            continue
        generation.end(
            ConnectionLostError(
                LostReason.PING_TIMEOUT, None, f"no pong within {pong_within} s of a ping"
            )
        )
        return


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
