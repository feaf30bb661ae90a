"""websockets 17 as a benchmark client: the same settings for its trio and asyncio APIs.

Pings off, no compression, no proxy lookup, ``max_size`` 2 MiB; ``max_queue`` stays at
its default (16 frames). Both ``connect`` functions take the same arguments and give
connections with the same ``send``/``recv``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from clients._common import MAX_MESSAGE_BYTES
from clients._drivers import Link, Opener


def opener(connect: Callable[..., AbstractAsyncContextManager[Any]]) -> Opener:
    """An opener for ``websockets.trio.client.connect`` or ``websockets.asyncio.client.connect``."""

    @asynccontextmanager
    async def open_link(url: str) -> AsyncIterator[Link]:
        async with connect(
            url, ping_interval=None, compression=None, proxy=None, max_size=MAX_MESSAGE_BYTES
        ) as ws:
            yield Link(
                send_text=ws.send,
                send_binary=ws.send,
                receive_text=ws.recv,
                receive_binary=ws.recv,
            )

    return open_link
