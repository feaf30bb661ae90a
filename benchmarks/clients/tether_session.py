"""Client: a tether ``Session`` (the project under test).

``Config(ping_interval=None, max_message_size=2 MiB)``, one for all links, and
``proxy=None`` (no proxy lookup, as for the other clients), everything else default.
Every benchmark uses the idiom the peers use, ``await session.send(m)`` (streaming
included: one task sends, another receives). ``tether_nowait`` is the same client
streaming with ``send_nowait`` (its writes coalesced), an extra row named as such.

Besides the four shared benchmarks it runs ``reconnect`` (greetings across server
restarts) and ``dead_peer`` (ping timeout on a stalled link).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

import tether
from clients._common import MAX_MESSAGE_BYTES, Meter, Params, emit_event, main
from clients._drivers import Link, benches, trio_both


def _config(ping_interval: float | None = None, ping_timeout: float | None = None) -> tether.Config:
    config = tether.Config(ping_interval=ping_interval, max_message_size=MAX_MESSAGE_BYTES)
    if ping_timeout is not None:
        config = attrs.evolve(config, ping_timeout=ping_timeout)
    return config


#: One configuration for every link, as an application makes it (a ``Config`` is
#: immutable; one per session would add its 380 bytes to each idle connection).
LINK_CONFIG = _config()


def _monotonic(trio_time: float) -> float:
    """Convert a Trio timestamp (event ``at``) to ``time.monotonic()`` seconds."""
    return time.monotonic() - (trio.current_time() - trio_time)


@asynccontextmanager
async def open_link(url: str, *, nowait: bool = False) -> AsyncIterator[Link]:
    """Open one session as a :class:`Link`; ``nowait``: stream with ``send_nowait``
    (falling back to ``await send`` when the send buffer is full)."""
    async with tether.connect(url, config=LINK_CONFIG, proxy=None) as session:
        yield Link(
            send_text=session.send,
            send_binary=session.send,
            receive_text=session.receive,
            receive_binary=session.receive,
            send_text_nowait=session.send_nowait if nowait else None,
            would_block=trio.WouldBlock,
        )


async def reconnect(params: Params, meter: Meter) -> None:
    """Wait for ``count + 1`` greetings (one per server instance), emitting ``hello``.

    The harness restarts the server as soon as each greeting arrives, so every
    connection here lives a few milliseconds, far shorter than ``Backoff.stable_after``
    (5 s); by design a short-lived connection's loss continues the outage with growing
    delays (no tight reconnect loop against a server that fails at once).
    ``stable_after=0`` makes each restart a fresh outage, as it is after any connection
    that was up a while: what is measured is the reconnect itself, first retry immediate.
    """
    config = attrs.evolve(_config(), backoff=tether.Backoff(stable_after=0))
    async with tether.connect(params.url, config=config, proxy=None) as session:
        for _ in range(params.count + 1):
            message = await session.receive()
            if isinstance(message, str) and message.startswith("hello "):
                emit_event("hello", instance=int(message.split()[1]), generation=session.generation)
        meter.report(float(params.count + 1))


async def dead_peer(params: Params, meter: Meter) -> None:
    """Emit ``connected`` per generation and ``lost`` per ``ConnectionLost``; stop after
    ``count`` losses. ``lost.t`` is the event's own timestamp, in monotonic seconds."""
    config = _config(params.ping_interval, params.ping_timeout)
    async with tether.connect(params.url, config=config, proxy=None) as session:
        events = session.events()
        emit_event("connected", generation=session.generation)
        lost = 0
        async for event in events:
            if isinstance(event, tether.events.ConnectionLost):
                lost += 1
                emit_event(
                    "lost",
                    t=_monotonic(event.at),
                    reason=event.reason.name,
                    generation=event.generation,
                )
                if lost >= params.count:
                    break
            elif isinstance(event, tether.events.Connected):
                emit_event("connected", generation=event.generation)
        meter.report(float(lost))


if __name__ == "__main__":
    main(
        {**benches(open_link, trio_both), "reconnect": reconnect, "dead_peer": dead_peer},
        "trio",
    )
