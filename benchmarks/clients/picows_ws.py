"""Client: picows (C, callback based) behind a minimal await adapter.

picows delivers frames to a callback. Applications that ``await`` messages put a
queue between the callback and their code; :class:`_Listener` is that queue at its
thinnest (a deque plus one future), so this row shows picows as an async/await
application sees it. Frames arrive whole (the echo server sends unfragmented frames).
Auto ping off (its default), ``max_frame_size`` 2 MiB, default asyncio event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from clients._common import MAX_MESSAGE_BYTES, main
from clients._drivers import Link, asyncio_both, benches


class _Listener(WSListener):
    """Queues whole text/binary messages; honours the transport's write backpressure."""

    def __init__(self) -> None:
        super().__init__()
        self.transport: WSTransport | None = None
        self.messages: deque[str | bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed: BaseException | None = None
        self.writable = asyncio.Event()
        self.writable.set()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT:
            self.messages.append(frame.get_payload_as_utf8_text())
        elif kind is WSMsgType.BINARY:
            self.messages.append(frame.get_payload_as_bytes())
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        else:
            return
        self._wake()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = ConnectionError("picows connection closed")
        self._wake()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    async def receive(self) -> str | bytes:
        """Next whole message; raises ``ConnectionError`` once disconnected."""
        messages = self.messages
        while not messages:
            if self.closed is not None:
                raise self.closed
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return messages.popleft()

    async def send_text(self, text: str) -> None:
        """Send a text message; wait while the transport is over its high-water mark."""
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, text)
        if not self.writable.is_set():
            await self.writable.wait()

    async def send_binary(self, data: bytes) -> None:
        """Send a binary message; wait while the transport is over its high-water mark."""
        assert self.transport is not None
        self.transport.send(WSMsgType.BINARY, data)
        if not self.writable.is_set():
            await self.writable.wait()


@asynccontextmanager
async def open_link(url: str) -> AsyncIterator[Link]:
    """Open one connection as a :class:`Link`."""
    transport, listener = await ws_connect(
        _Listener, url, max_frame_size=MAX_MESSAGE_BYTES, websocket_handshake_timeout=10
    )
    assert isinstance(listener, _Listener)
    try:
        yield Link(
            send_text=listener.send_text,
            send_binary=listener.send_binary,
            receive_text=listener.receive,
            receive_binary=listener.receive,
        )
    finally:
        transport.disconnect()


if __name__ == "__main__":
    main(benches(open_link, asyncio_both), "asyncio")
