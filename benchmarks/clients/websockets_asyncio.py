"""Client: websockets 17 ``websockets.asyncio`` with its defaults (see ``_websockets``);
default asyncio event loop."""

from __future__ import annotations

from websockets.asyncio.client import connect

from clients import _websockets
from clients._common import main
from clients._drivers import asyncio_both, benches

if __name__ == "__main__":
    main(benches(_websockets.opener(connect), asyncio_both), "asyncio")
