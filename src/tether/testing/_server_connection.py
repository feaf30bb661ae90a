"""One connection from the server's side: what the server records of it
(:class:`ConnectionRecord`) and what the handler holds (:class:`ServerConnection`).

:func:`record_closure` fills in how a connection ended, once the server's end of its
link has finished.
"""

from __future__ import annotations

from typing import Literal

import attrs
import trio
import trio_websocket

from ._faults import check_close_code

__all__ = ["ClosedBy", "ConnectionRecord", "ServerConnection", "record_closure"]

ClosedBy = Literal["client", "server", "abort"]

_ABNORMAL_CLOSURE = 1006


@attrs.define(eq=False)
class ConnectionRecord:
    """What the server saw of one connection: one per stream :attr:`MemoryServer.opener`
    handed out (refused attempts have no record; see ``server.refused_attempts``).

    Records are live: the server updates them as the connection progresses. Times are
    ``trio.current_time()`` seconds.

    Attributes:
        id: 1 for the first stream handed out, +1 per stream.
        accepted_at: when the opener returned the stream.
        opened: whether the server accepted the WebSocket handshake.
        opened_at: when it did (``None`` until then).
        rejected_status: the HTTP status the handshake was answered with, when rejected.
        closed_at: when the server's end of the stream closed (``None`` while open).
        close_code: the code of the first Close frame (``1006`` when the link ended
            without one; ``None`` for a connection that never opened).
        closed_by: ``"client"`` or ``"server"`` (who sent the first Close frame, or the
            server for a rejected handshake), ``"abort"`` (the stream ended with no
            Close frame: :meth:`MemoryServer.drop`, a restart, the client vanishing).
        host, port: the arguments the opener was called with.
        path: the request target of the handshake, e.g. ``"/chat?room=1"``.
        headers: the handshake's request headers, lower-cased names to values (repeated
            ones joined with ``", "``). wsproto keeps ``host`` and
            ``sec-websocket-extensions`` to itself; ``sec-websocket-protocol`` is
            rebuilt from the proposed subprotocols.
        messages: every message the handler received, in order.
        handler_error: the exception the handler raised, if any (the connection was
            then closed with code 1011).
    """

    id: int
    accepted_at: float
    host: str = ""
    port: int = 0
    opened: bool = False
    opened_at: float | None = None
    rejected_status: int | None = None
    closed_at: float | None = None
    close_code: int | None = None
    closed_by: ClosedBy | None = None
    path: str | None = None
    headers: dict[str, str] = attrs.Factory(dict)
    messages: list[str | bytes] = attrs.Factory(list)
    handler_error: Exception | None = None

    @property
    def messages_received(self) -> int:
        """How many messages the handler received (``len(messages)``)."""
        return len(self.messages)


class ServerConnection:
    """The server side of one open WebSocket connection, as the handler sees it.

    A thin wrapper over ``trio_websocket.WebSocketConnection`` that keeps
    :attr:`record` up to date. Every method raises ``trio_websocket.ConnectionClosed``
    once the connection is closed or closing; letting it escape the handler simply ends
    the connection.
    """

    def __init__(
        self, websocket: trio_websocket.WebSocketConnection, record: ConnectionRecord
    ) -> None:
        self._ws = websocket
        self._sent_close_code: int | None = None
        self.record = record

    @property
    def path(self) -> str:
        """The handshake's request target."""
        return self.record.path or "/"

    @property
    def headers(self) -> dict[str, str]:
        """The handshake's request headers, lower-cased names to values."""
        return self.record.headers

    @property
    def closed(self) -> trio_websocket.CloseReason | None:
        """trio-websocket's close reason, ``None`` while open."""
        return self._ws.closed

    async def get_message(self) -> str | bytes:
        """The next text (``str``) or binary (``bytes``) message; waits for it, with no
        timeout of its own. Raises ``trio_websocket.ConnectionClosed`` once the
        connection is closed (the client's Close, a dropped link)."""
        message = await self._ws.get_message()
        self.record.messages.append(message)
        return message

    async def send_message(self, message: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message. Raises
        ``trio_websocket.ConnectionClosed`` once the connection is closed or closing."""
        await self._ws.send_message(message)

    async def ping(self, payload: bytes | None = None) -> None:
        """Send a ping (``payload``: 4 random bytes by default) and wait for its pong,
        forever if the link is stalled: bound it with ``trio.fail_after``. Raises
        ``trio_websocket.ConnectionClosed`` once the connection is closed, ``ValueError``
        for a ``payload`` already in flight."""
        await self._ws.ping(payload)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send a Close frame with ``code`` and wait for the client's answer (or the
        end of the link). Returns at once when already closed or closing. When
        cancelled, the stream is closed without waiting (the client sees 1006).
        Raises ``ValueError`` for a code an endpoint may not send."""
        check_close_code(code)
        if self._ws.closed is None and self._sent_close_code is None:
            self._sent_close_code = code
        await self._ws.aclose(code, reason or None)


def record_closure(record: ConnectionRecord, conn: ServerConnection | None) -> None:
    """Fill in ``record``'s ``closed_at``, ``closed_by`` and ``close_code`` now that the
    server's end of its link has finished; ``conn`` is ``None`` until the handshake
    was accepted."""
    record.closed_at = trio.current_time()
    reason = conn.closed if conn is not None else None
    if record.rejected_status is not None:
        record.closed_by = "server"
    elif conn is not None and conn._sent_close_code is not None:
        record.closed_by, record.close_code = "server", conn._sent_close_code
    elif reason is not None and reason.code != _ABNORMAL_CLOSURE:
        record.closed_by, record.close_code = "client", reason.code
    else:
        record.closed_by = "abort"
        record.close_code = _ABNORMAL_CLOSURE if record.opened else None
