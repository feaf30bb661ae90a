"""A TCP forwarder that can stall its links: the dead-peer benchmark's black hole.

Run by ``bench.py`` as ``python -m stall_proxy UPSTREAM_PORT`` from the ``benchmarks``
directory. It listens on 127.0.0.1 (ephemeral port), forwards every accepted
connection to ``127.0.0.1:UPSTREAM_PORT`` byte for byte, and prints one JSON line once
it accepts::

    {"port": 40124, "pid": 4243}

Control, one command per line on stdin, one JSON line in reply on stdout:

* ``stall``: every connection open now stops forwarding in both directions, for good.
  Nothing is closed and nothing is reset: bytes already read are held, and once the
  socket buffers fill TCP pushes back, exactly like a link that went silent. New
  connections accepted afterwards forward normally. Reply: ``{"stalled", "t_stall"}``
  with ``t_stall`` as ``time.monotonic()`` in seconds.
* ``quit`` (or end of stdin): stop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping

HOST = "127.0.0.1"
CHUNK_BYTES = 65536
"""Bytes read per forwarding step."""


class _Link:
    """One proxied connection; ``stalled`` freezes both directions."""

    def __init__(self) -> None:
        self.stalled = asyncio.Event()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link) -> None:
    """Copy source to sink until EOF; once the link is stalled, never move another byte."""
    while not link.stalled.is_set():
        data = await source.read(CHUNK_BYTES)
        if link.stalled.is_set():
            break
        if not data:
            sink.close()
            return
        sink.write(data)
        await sink.drain()
    await asyncio.Future()  # a stalled link holds its sockets open until the process ends


class StallProxy:
    """Accepts on an ephemeral port and forwards to ``upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.links: set[_Link] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward one accepted connection both ways."""
        up_reader, up_writer = await asyncio.open_connection(HOST, self.upstream_port)
        link = _Link()
        self.links.add(link)
        try:
            await asyncio.gather(_pump(reader, up_writer, link), _pump(up_reader, writer, link))
        except (ConnectionError, OSError):
            writer.close()
            up_writer.close()
        finally:
            self.links.discard(link)

    def stall(self) -> dict[str, float | int]:
        """Stall every link open now."""
        t_stall = time.monotonic()
        for link in self.links:
            link.stalled.set()
        return {"stalled": len(self.links), "t_stall": t_stall}


def _reply(payload: Mapping[str, object]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def _serve(upstream_port: int) -> None:
    proxy = StallProxy(upstream_port)
    server = await asyncio.start_server(proxy.handle, HOST, 0)
    _reply({"port": server.sockets[0].getsockname()[1], "pid": os.getpid()})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "stall":
            _reply(proxy.stall())
        else:
            _reply({"error": f"unknown command {words[0]!r}"})
    server.close()


def main() -> None:
    """Parse the upstream port and forward until ``quit`` or end of stdin."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream_port", type=int, help="port of the server on 127.0.0.1")
    args = parser.parse_args()
    asyncio.run(_serve(args.upstream_port))


if __name__ == "__main__":
    main()
