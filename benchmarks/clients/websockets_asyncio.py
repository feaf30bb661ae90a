"""Client: websockets 17 ``websockets.asyncio`` with its defaults.

Pings off, no compression, no proxy lookup, ``max_size`` 2 MiB; ``max_queue`` stays at
its default (16 frames). Default asyncio event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from websockets.asyncio.client import connect

from clients._common import MAX_MESSAGE_BYTES, main
from clients._drivers import Link, asyncio_both, benches


@asynccontextmanager
async def open_link(url: str) -> AsyncIterator[Link]:
    """Open one connection as a :class:`Link`."""
    async with connect(
        url, ping_interval=None, compression=None, proxy=None, max_size=MAX_MESSAGE_BYTES
    ) as ws:
        yield Link(
            send_text=ws.send,
            send_binary=ws.send,
            receive_text=ws.recv,
            receive_binary=ws.recv,
        )


if __name__ == "__main__":
    main(benches(open_link, asyncio_both), "asyncio")
