"""How much memory a server can make a client hold by pushing to an application that
reads nothing (issue 10 item 3).

A ``websockets`` server on 127.0.0.1 (a child process) pushes 1 MiB binary messages
as fast as the client's TCP window lets it; the client connects, reads nothing for
``--seconds`` (default 10), and reports its resident set size (``VmRSS`` of
``/proc/self/status``) before and after, and the messages it holds. Each client runs in
a fresh process, so the figures are comparable:

    python benchmarks/rss_flood.py                     # tether, default Config
    python benchmarks/rss_flood.py --client websockets # websockets asyncio, defaults

Needs ``websockets`` (the bench environment has it: ``.nox/bench/bin/python``). To
measure another tether tree, put its ``src`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MiB = 2**20


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _serve() -> None:
    """The server: push 1 MiB messages on every connection until it closes."""
    from websockets.asyncio.server import serve

    async def push(ws: Any) -> None:
        message = b"x" * MiB
        try:
            while True:
                await ws.send(message)
        except Exception:
            return

    async with serve(push, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


def _tether_client(port: int, seconds: float) -> dict[str, Any]:
    import trio

    import tether

    async def run() -> dict[str, Any]:
        async with tether.connect(f"ws://127.0.0.1:{port}/") as session:
            before = rss_mib()
            await trio.sleep(seconds)
            after = rss_mib()
            statistics = session.statistics()
            return {
                "before_mib": before,
                "after_mib": after,
                "held_messages": statistics.receive_buffered,
                "held_bytes": getattr(statistics, "receive_buffered_bytes", None),
                "lost": {reason.name: n for reason, n in statistics.lost.items()},
            }

    return trio.run(run)


def _websockets_client(port: int, seconds: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async def run() -> dict[str, Any]:
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            before = rss_mib()
            await asyncio.sleep(seconds)
            after = rss_mib()
            return {"before_mib": before, "after_mib": after, "state": ws.state.name}

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=["tether", "websockets"], default="tether")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--role", choices=["server"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "server":
        asyncio.run(_serve())
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--role", "server"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        started = time.monotonic()
        client = _tether_client if args.client == "tether" else _websockets_client
        result = client(port, args.seconds)
        result["client"] = args.client
        result["growth_mib"] = round(result["after_mib"] - result["before_mib"], 1)
        result["wall_s"] = round(time.monotonic() - started, 1)
        if args.client == "tether":
            import tether

            result["tether"] = str(Path(tether.__file__).parent)
        print(json.dumps(result))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
