"""The benchmarks' WebSocket echo server: picows (C) on asyncio, in its own process.

Run by ``bench.py`` as ``python -m echo_server [--port N]`` from the ``benchmarks``
directory. It listens on 127.0.0.1 only (an ephemeral port unless ``--port`` is
given) and prints one JSON line once it accepts connections::

    {"port": 40123, "pid": 4242, "instance": 1, "t_ready": 1234.5678}

``t_ready`` is ``time.monotonic()`` in seconds; on Linux that clock is system-wide, so
it compares directly with the clients' timestamps.

Behaviour per request path:

* any path: every text, binary and continuation frame is echoed as received (same
  opcode, same FIN bit), so messages come back whole; messages up to
  ``MAX_MESSAGE_BYTES`` (2 MiB) are accepted, larger ones are closed with 1009.
* ``/greet``: additionally sends the text ``hello <instance>`` as soon as the
  connection opens; the reconnect benchmark waits for it.

Control, one command per line on stdin, one JSON line in reply on stdout:

* ``restart <downtime_s>``: simulate a server restart on the same port. With
  downtime 0 the listener is replaced first and the open connections are aborted
  after it, so a client's immediate reconnect never meets a refused port. With a
  downtime, connections are aborted, the port stays closed for that many seconds, and
  then the listener comes back. Reply: ``{"instance", "t_drop", "t_ready", "dropped"}``.
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

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_create_server,
)

HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 2 * 1024 * 1024
"""Largest message accepted, in bytes (2 MiB)."""

_DATA_TYPES = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)


class _Echo(WSListener):
    """Echoes data frames back unchanged; one instance per connection."""

    def __init__(self, server: EchoServer, greet: bool) -> None:
        super().__init__()
        self._server = server
        self._greet = greet
        self._message_bytes = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._server.connections.add(transport)
        if self._greet:
            transport.send(WSMsgType.TEXT, f"hello {self._server.instance}".encode())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._server.connections.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind in _DATA_TYPES:
            self._message_bytes = (
                frame.payload_size
                if kind is not WSMsgType.CONTINUATION
                else self._message_bytes + frame.payload_size
            )
            if self._message_bytes > MAX_MESSAGE_BYTES:
                transport.send_close(WSCloseCode.MESSAGE_TOO_BIG)
                transport.disconnect()
                return
            transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


class EchoServer:
    """The listening socket and its open connections, restartable on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.instance = 0
        self.connections: set[WSTransport] = set()
        self._listener: asyncio.Server | None = None

    def _factory(self, request: WSUpgradeRequest) -> _Echo:
        return _Echo(self, greet=request.path.startswith(b"/greet"))

    async def listen(self) -> float:
        """Open the listener (SO_REUSEADDR, as asyncio does on POSIX); return its time."""
        self.instance += 1
        self._listener = await ws_create_server(
            self._factory,
            HOST,
            self.port,
            max_frame_size=MAX_MESSAGE_BYTES,
            websocket_handshake_timeout=10,
            reuse_address=True,
            backlog=2048,
        )
        self.port = self._listener.sockets[0].getsockname()[1]
        return time.monotonic()

    def stop_listening(self) -> None:
        """Close the listening socket; open connections are left alone."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def drop_all(self) -> tuple[int, float]:
        """Abort every open connection (no Close frame); return (count, time)."""
        dropped = list(self.connections)
        self.connections.clear()
        for transport in dropped:
            transport.disconnect(graceful=False)
        return len(dropped), time.monotonic()

    async def restart(self, downtime: float) -> dict[str, float | int]:
        """Simulate a restart; see the module docstring for the ordering."""
        self.stop_listening()
        if downtime <= 0:
            t_ready = await self.listen()
            dropped, t_drop = self.drop_all()
        else:
            dropped, t_drop = self.drop_all()
            await asyncio.sleep(downtime)
            t_ready = await self.listen()
        return {
            "instance": self.instance,
            "t_drop": t_drop,
            "t_ready": t_ready,
            "dropped": dropped,
        }


def _reply(payload: Mapping[str, object]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def _serve(port: int) -> None:
    server = EchoServer(port)
    t_ready = await server.listen()
    _reply({"port": server.port, "pid": os.getpid(), "instance": 1, "t_ready": t_ready})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "restart":
            downtime = float(words[1]) if len(words) > 1 else 0.0
            _reply(await server.restart(downtime))
        else:
            _reply({"error": f"unknown command {words[0]!r}"})
    server.stop_listening()
    server.drop_all()


def main() -> None:
    """Parse ``--port`` and serve until ``quit`` or end of stdin."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 = ephemeral")
    args = parser.parse_args()
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
