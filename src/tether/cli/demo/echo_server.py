"""The embedded WebSocket echo server of ``tether demo`` (trio-websocket through
``tether.testing.serve_websocket``, which answers pings only while a connection is
open, 127.0.0.1):
:class:`EchoServer` echoes every message in order and, on command, closes its
connections with a code or rejects the next handshakes with 503 and ``Retry-After``.
"""

from __future__ import annotations

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest

from ...testing import serve_websocket

__all__ = ["REJECT_STATUS", "RETRY_AFTER_SECONDS", "EchoServer"]

#: What the server's handshake rejection carries (the "restart" fault).
REJECT_STATUS = 503
RETRY_AFTER_SECONDS = 1


class EchoServer:
    """The demo's WebSocket server: echoes every message, in order, on 127.0.0.1.

    Controls (synchronous, take effect at once): :meth:`close_all` and
    :meth:`reject_next`.
    """

    def __init__(self) -> None:
        self.port = 0
        self.accepted = 0
        self.rejected = 0
        self._open = 0
        self._reject_budget = 0
        self._close_signal = trio.Event()
        self._close_with = (1001, "going away")

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``nursery.start(server.serve)`` returns the port."""
        async with trio.open_nursery() as nursery:
            self.port = await nursery.start(serve_websocket, self._handle)
            task_status.started(self.port)

    def close_all(self, code: int = 1001, reason: str = "going away") -> int:
        """Close every open connection with ``code`` and ``reason`` (the handler of each
        runs the closing handshake, bounded by 2 s). Returns how many were open."""
        self._close_with = (code, reason)
        self._close_signal.set()
        self._close_signal = trio.Event()
        return self._open

    def reject_next(self, count: int = 1) -> None:
        """Reject the next ``count`` handshakes with 503 and ``Retry-After: 1``."""
        self._reject_budget += count

    async def _handle(self, request: WebSocketRequest) -> None:
        if self._reject_budget > 0:
            self._reject_budget -= 1
            self.rejected += 1
            retry_after = str(RETRY_AFTER_SECONDS).encode()
            await request.reject(REJECT_STATUS, extra_headers=[(b"Retry-After", retry_after)])
            return
        connection = await request.accept()
        self.accepted += 1
        self._open += 1
        try:
            await self._serve(connection, self._close_signal)
        finally:
            self._open -= 1

    async def _serve(self, connection: WebSocketConnection, close_signal: trio.Event) -> None:
        closing = False

        async def closer() -> None:
            nonlocal closing
            await close_signal.wait()
            closing = True
            code, reason = self._close_with
            with trio.move_on_after(2.0):
                await connection.aclose(code, reason)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(closer)
            try:
                while True:
                    await connection.send_message(await connection.get_message())
            except ConnectionClosed:
                pass
            if not closing:
                nursery.cancel_scope.cancel()
