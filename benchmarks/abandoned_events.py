"""What abandoned ``session.events()`` loops cost a session (issue 10 item 8).

An *abandoned* loop is ``async for ev in session.events(): return`` after its first
event: the subscription is never closed, only dropped. We start ``--loops`` of them on
one session over the in-memory server (``tether.testing``, real clock), let each take
its first event, and measure:

* memory: ``tracemalloc`` traced bytes grown over the loops and ``--reconnects``
  reconnects, less what the same reconnects grow without the loops (a fresh session
  for each, so the timing runs untraced);
* reconnect cost: mean real time of ``reconnect()`` until the next generation is open,
  with no subscriber, then after the abandoned loops;
* ``statistics().events_dropped`` over those reconnects.

    python benchmarks/abandoned_events.py --loops 1000 --reconnects 500
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import trio
import trio.testing

import tether
from tether.testing import memory_server

URL = "ws://abandoned.test/"
CONFIG = tether.Config(ping_interval=None, ping_timeout=None)


async def reconnect_cost(session: tether.Session, reconnects: int) -> float:
    """Mean seconds of one ``reconnect()`` until the next generation is open."""
    started = time.perf_counter()
    for _ in range(reconnects):
        session.reconnect()
        await session.wait_connected()
    return (time.perf_counter() - started) / reconnects


async def abandoned_loop(session: tether.Session) -> None:
    async for _event in session.events():
        return


async def start_abandoned(session: tether.Session, loops: int) -> None:
    """Start ``loops`` abandoned loops and let each take its first event and return."""
    async with trio.open_nursery() as nursery:
        for _ in range(loops):
            nursery.start_soon(abandoned_loop, session)
        await trio.testing.wait_all_tasks_blocked()
        session.reconnect()
    await session.wait_connected()


async def timing(loops: int, reconnects: int) -> tuple[float, float, int]:
    async with (
        memory_server() as server,
        tether.connect(URL, config=CONFIG, opener=server.opener) as session,
    ):
        await reconnect_cost(session, reconnects)  # warm up
        clean = await reconnect_cost(session, reconnects)
        await start_abandoned(session, loops)
        dropped_before = session.statistics().events_dropped
        abandoned = await reconnect_cost(session, reconnects)
        dropped = session.statistics().events_dropped - dropped_before
    return clean, abandoned, dropped


async def memory(loops: int, reconnects: int) -> int:
    async with (
        memory_server() as server,
        tether.connect(URL, config=CONFIG, opener=server.opener) as session,
    ):
        await reconnect_cost(session, 10)  # warm up
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        await start_abandoned(session, loops)
        await reconnect_cost(session, reconnects)
        gc.collect()
        pinned = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    return pinned


async def main(loops: int, reconnects: int) -> None:
    clean, abandoned, dropped = await timing(loops, reconnects)
    baseline = await memory(0, reconnects)  # what the reconnects alone leave (server records)
    pinned = await memory(loops, reconnects) - baseline
    print(f"loops={loops} reconnects={reconnects}")
    print(f"memory the loops pin after the reconnects: {pinned / 2**20:.2f} MiB")
    print(f"reconnect, no subscriber:   {clean * 1e3:.2f} ms")
    print(f"reconnect, after the loops: {abandoned * 1e3:.2f} ms")
    print(f"events_dropped over those reconnects: {dropped:,}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--reconnects", type=int, default=500)
    args = parser.parse_args()
    trio.run(main, args.loops, args.reconnects)
