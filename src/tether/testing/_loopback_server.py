"""A memory-server handler served on real loopback sockets: :class:`LoopbackServer`.

The same handler (``async fn(ServerConnection)``: :func:`echo`,
``JsonDialectServer.handler``) that :func:`memory_server` runs over in-memory streams,
here behind :func:`serve_websocket` on 127.0.0.1, so that a :class:`ChaosProxy` can sit
in front of it. The server's own faults (a Close with a code, handshakes answered with
an HTTP status) are the memory server's, with the same names; the network's faults are
the proxy's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

import trio
import trio_websocket

from ._faults import check_close_code
from ._handlers import Handler
from ._server_connection import ConnectionRecord, ServerConnection, record_closure
from ._serving import Rejection, header_dict, rejections
from ._ws_server import serve_websocket

__all__ = ["LoopbackServer"]

_INTERNAL_ERROR = 1011


class LoopbackServer:
    """Serve ``handler`` on 127.0.0.1 (an ephemeral port), one call per accepted
    connection, each given a :class:`ServerConnection`::

        app = JsonDialectServer()
        server = LoopbackServer(app.handler)
        port = await nursery.start(server.serve)

    A handler that returns closes its connection with 1000; one that raises, with 1011
    (the exception kept in ``record.handler_error``, the server lives on); one whose
    connection closed or was dropped (``trio_websocket.ConnectionClosed``) just ends.

    Attributes:
        port: the port it listens on (0 until :meth:`serve` has started).
        connections: a :class:`ConnectionRecord` per handshake received, in order
            (``id`` from 1); rejected ones too.
    """

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1") -> None:
        self._handler = handler
        self._host = host
        self._rejections: deque[Rejection] = deque()
        self._live: list[ServerConnection] = []
        self.port = 0
        self.connections: list[ConnectionRecord] = []

    @property
    def open_connections(self) -> list[ConnectionRecord]:
        """The records of the connections open now (accepted, not closed)."""
        return [conn.record for conn in self._live if conn.closed is None]

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``await nursery.start(server.serve)`` returns the port."""
        async with trio.open_nursery() as nursery:
            self.port = await nursery.start(serve_websocket, self._serve_request, self._host)
            task_status.started(self.port)

    def reject(
        self,
        n: int = 1,
        status: int = 503,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        """Answer the next ``n`` handshakes with HTTP ``status`` (300-599, default 503),
        ``headers`` (``{"Retry-After": "1"}``) and ``body`` instead of 101, as
        :meth:`MemoryServer.reject` does; queued after any rejections still pending.
        Raises ``ValueError`` for an ``n`` below 1 or a ``status`` outside 300-599."""
        self._rejections.extend(rejections(n, status, headers, body))

    async def close(self, code: int = 1001, reason: str = "") -> None:
        """Send a Close frame with ``code`` and ``reason`` on every open connection, then
        wait until each close handshake finishes (the client answers) or its link ends,
        as :meth:`MemoryServer.close` does: forever for a client that never answers (a
        stalled link), so bound it with ``trio.move_on_after``; cancelled, the
        connections still closing are closed without waiting. Raises ``ValueError`` for
        a code a peer may not send."""
        check_close_code(code)
        async with trio.open_nursery() as nursery:
            for conn in self._live:
                if conn.closed is None:
                    nursery.start_soon(conn.aclose, code, reason)

    async def _serve_request(self, request: trio_websocket.WebSocketRequest) -> None:
        record = ConnectionRecord(
            id=len(self.connections) + 1,
            accepted_at=trio.current_time(),
            host=self._host,
            port=self.port,
        )
        record.path = request.path
        record.headers = header_dict(request.headers)
        self.connections.append(record)
        if self._rejections:
            status, headers, body = self._rejections.popleft()
            record.rejected_status = status
            try:
                await request.reject(status, extra_headers=headers, body=body or None)
            finally:
                record_closure(record, None)
            return
        conn = ServerConnection(await request.accept(), record)
        record.opened, record.opened_at = True, trio.current_time()
        self._live.append(conn)
        try:
            await self._serve(conn)
        finally:
            self._live.remove(conn)
            record_closure(record, conn)

    async def _serve(self, conn: ServerConnection) -> None:
        try:
            await self._handler(conn)
            code, reason = 1000, ""
        except trio_websocket.ConnectionClosed:
            return
        except Exception as exc:
            conn.record.handler_error = exc
            code, reason = _INTERNAL_ERROR, "handler error"
        try:
            await conn.aclose(code, reason)
        except trio_websocket.ConnectionClosed:
            pass
