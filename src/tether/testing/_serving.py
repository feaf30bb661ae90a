"""Serving one link of the memory server: the WebSocket handshake over the server end
(with trio-websocket), then a rejection or the handler, and the record kept up to date
until both ends of the link have finished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import attrs
import trio
import trio_websocket

from ._handlers import Handler
from ._link import Link
from ._server_connection import ConnectionRecord, ServerConnection, record_closure
from ._ws_server import open_server

__all__ = ["Rejection", "ServedLink", "WebSocketSettings", "header_dict", "rejections"]

_INTERNAL_ERROR = 1011

Rejection = tuple[int, list[tuple[bytes, bytes]], bytes]
"""How to answer a handshake instead of 101: HTTP status, headers, body."""


@attrs.frozen
class WebSocketSettings:
    """trio-websocket's server settings, the same for every link of one server."""

    message_queue_size: int
    max_message_size: int
    receive_buffer_size: int | None


class ServedLink:
    """The server's bookkeeping for one link: its record, the handler's
    :class:`ServerConnection` once the handshake was accepted, and the serving itself.

    ``on_change`` is called whenever the record changes in a way a waiter may care
    about (opened, closed); ``on_done`` once both ends of the link have finished.
    """

    def __init__(
        self,
        record: ConnectionRecord,
        link: Link,
        *,
        on_change: Callable[[], None],
        on_done: Callable[[ServedLink], None],
    ) -> None:
        self.record = record
        self.link = link
        self.conn: ServerConnection | None = None
        self.handshake_scope = trio.CancelScope()
        self._on_change = on_change
        link.server_end.on_finished = self._finished
        link.on_done = lambda: on_done(self)

    def _finished(self) -> None:
        record_closure(self.record, self.conn)
        self.handshake_scope.cancel()
        self._on_change()

    async def serve(
        self,
        handler: Handler,
        settings: WebSocketSettings,
        next_rejection: Callable[[], Rejection | None],
    ) -> None:
        """Serve the link until the connection ends, then close the server end.

        ``next_rejection`` is asked once the handshake request has arrived: a
        :data:`Rejection` answers it, ``None`` accepts it and runs ``handler``.
        """
        end = self.link.server_end
        try:
            async with trio.open_nursery() as nursery:
                try:
                    await self._handshake_and_handle(handler, settings, next_rejection, nursery)
                except trio_websocket.ConnectionClosed:
                    pass
        finally:
            end.close()

    async def _handshake_and_handle(
        self,
        handler: Handler,
        settings: WebSocketSettings,
        next_rejection: Callable[[], Rejection | None],
        nursery: trio.Nursery,
    ) -> None:
        record, end = self.record, self.link.server_end
        request = None
        with self.handshake_scope:  # cancelled when the link ends first
            request = await open_server(
                nursery,
                end,
                message_queue_size=settings.message_queue_size,
                max_message_size=settings.max_message_size,
                receive_buffer_size=settings.receive_buffer_size,
            )
        if request is None:
            return
        record.path = request.path
        record.headers = header_dict(request.headers)
        if request.proposed_subprotocols:
            record.headers["sec-websocket-protocol"] = ", ".join(request.proposed_subprotocols)
        rejection = next_rejection()
        if rejection is not None:
            status, headers, body = rejection
            record.rejected_status = status
            await request.reject(status, extra_headers=headers, body=body)
            end.close()  # also ends the reader task
            return
        conn = ServerConnection(await request.accept(), record)
        self.conn = conn
        record.opened, record.opened_at = True, trio.current_time()
        self._on_change()
        try:
            await handler(conn)
            code, reason = 1000, ""
        except trio_websocket.ConnectionClosed:
            return
        except Exception as exc:
            record.handler_error = exc
            code, reason = _INTERNAL_ERROR, "handler error"
        await conn.aclose(code, reason)


def rejections(
    n: int,
    status: int,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    body: bytes,
) -> list[Rejection]:
    """The ``n`` answers a server's ``reject(n, status, headers, body)`` queues: HTTP
    ``status`` (300-599), ``headers`` encoded as latin-1 pairs, ``body``. Raises
    ``ValueError`` for an ``n`` that is not an int >= 1 or a ``status`` outside
    300-599."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: must be an integer >= 1, got {n!r}")
    if not 300 <= status <= 599:
        raise ValueError(f"status: must be within 300-599, got {status!r}")
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in items]
    return [(status, list(encoded), body) for _ in range(n)]


def header_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """A handshake's headers as ``ConnectionRecord.headers`` keeps them: lower-cased
    names to values, repeated ones joined with ``", "``."""
    result: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result
