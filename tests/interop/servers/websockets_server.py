"""An echo server on Python ``websockets`` (13+, asyncio API), for tether's interop suite.

::

    python websockets_server.py [--port N]

Listens on 127.0.0.1 (port N, default 0: any free port) and prints the port it got as
the first line of stdout; nothing else goes to stdout. Every text message is echoed as
text and every binary message as binary, except two control messages (text):

``__close__:CODE``
    close this connection with CODE (a Close frame, reason "requested")
``__drop__``
    abort the TCP connection at once (SO_LINGER 0: a reset, no Close frame; the client
    sees 1006)

``max_size`` is raised from websockets' 1 MiB default to 16 MiB (a 1 MiB message must
pass with room to spare); no server pings (``ping_interval=None``), so the only pings
are the client's. No compression unless ``--compression on`` (permessage-deflate with
websockets' defaults) or ``--compression no-context-takeover`` (both directions without
context takeover).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

MAX_SIZE = 16 * 2**20
CLOSE_PREFIX = "__close__:"


def abort(ws: ServerConnection) -> None:
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def echo(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith(CLOSE_PREFIX):
                await ws.close(int(message[len(CLOSE_PREFIX) :]), "requested")
                return
            if message == "__drop__":
                abort(ws)
                return
            await ws.send(message)
    except ConnectionClosed:
        pass


async def main(port: int, compression: str) -> None:
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    extensions = None
    if compression != "off":
        no_context = compression == "no-context-takeover"
        extensions = [
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=no_context,
                client_no_context_takeover=no_context,
                compress_settings={"memLevel": 5},
            )
        ]
    async with serve(
        echo,
        "127.0.0.1",
        port,
        max_size=MAX_SIZE,
        ping_interval=None,
        compression=None,
        extensions=extensions,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(bound, flush=True)
        await asyncio.get_running_loop().create_future()  # serve until killed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--compression", choices=["off", "on", "no-context-takeover"], default="off"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.port, arguments.compression))
