"""Client: aiohttp ``ClientSession.ws_connect`` with its defaults.

No heartbeat, no compression (both aiohttp defaults), ``max_msg_size`` 2 MiB, a
connector without a connection limit (the idle benchmark holds 1,000). All
connections of a process share one ``ClientSession``, as aiohttp recommends; it is
never closed (the process ends with ``os._exit``). Default asyncio event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from clients._common import MAX_MESSAGE_BYTES, main
from clients._drivers import Link, asyncio_both, benches

_session: aiohttp.ClientSession | None = None


def _data(message: object) -> str | bytes:
    data = getattr(message, "data", message)
    if not isinstance(data, (str, bytes)):
        raise TypeError(f"not a data message: {message!r}")
    return data


@asynccontextmanager
async def open_link(url: str) -> AsyncIterator[Link]:
    """Open one connection as a :class:`Link`."""
    global _session
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    async with _session.ws_connect(url, max_msg_size=MAX_MESSAGE_BYTES) as ws:
        yield Link(
            send_text=ws.send_str,
            send_binary=ws.send_bytes,
            receive_text=ws.receive_str,
            receive_binary=ws.receive_bytes,
            payload=_data,
        )


if __name__ == "__main__":
    main(benches(open_link, asyncio_both), "asyncio")
