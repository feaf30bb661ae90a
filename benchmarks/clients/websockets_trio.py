"""Client: websockets 17 ``websockets.trio`` with its defaults (see ``_websockets``)."""

from __future__ import annotations

from websockets.trio.client import connect

from clients import _websockets
from clients._common import main
from clients._drivers import benches, trio_both

if __name__ == "__main__":
    main(benches(_websockets.opener(connect), trio_both), "trio")
