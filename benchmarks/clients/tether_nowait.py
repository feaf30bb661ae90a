"""Client: tether streaming with ``send_nowait`` (an extra row, not the peers' idiom).

The same session as ``tether_session``; its sender calls ``session.send_nowait(m)``
and falls back to ``await session.send(m)`` when the send buffer is full
(``trio.WouldBlock``), so the writer task coalesces queued messages into one write.
"""

from __future__ import annotations

from functools import partial

from clients._common import main
from clients._drivers import stream, trio_both
from clients.tether_session import open_link

if __name__ == "__main__":
    main({"stream": partial(stream, partial(open_link, nowait=True), trio_both)}, "trio")
