"""The server side of a connection for ``tether.testing``: trio-websocket's, with one fix.

The memory server and the ChaosProxy's tests speak WebSocket through trio-websocket, an
implementation independent of tether's own client (:mod:`tether.connection`), so the kit
tests the client against somebody else's reading of RFC 6455.

The fix: trio-websocket 0.12.2 answers every Ping with a Pong, even after its own Close
went out; wsproto then raises ``LocalProtocolError`` inside the library's reader task and
the connection dies mid close handshake. RFC 6455 section 5.5.1: after sending Close an
endpoint sends no further data, so pings are answered only while the connection is open.
"""

from __future__ import annotations

import trio
import trio_websocket
import wsproto
from trio_websocket import WebSocketConnection
from wsproto.connection import ConnectionState
from wsproto.events import Ping

__all__ = ["open_server"]


def _answer_pings_only_while_open(connection: WebSocketConnection) -> None:
    """Installed before the reader task starts (it reads its handler table once)."""

    async def answer_ping(event: Ping) -> None:
        if connection._wsproto.state is ConnectionState.OPEN:
            await connection._send(event.response())

    connection._handle_ping_event = answer_ping  # type: ignore[method-assign]


async def open_server(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    message_queue_size: int,
    max_message_size: int,
    receive_buffer_size: int | None,
) -> trio_websocket.WebSocketRequest:
    """Server side of the handshake over ``stream``: like
    ``trio_websocket.wrap_server_stream``, with the Ping fix above."""
    connection = WebSocketConnection(
        stream,
        wsproto.WSConnection(wsproto.ConnectionType.SERVER),
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
    )
    _answer_pings_only_while_open(connection)
    nursery.start_soon(connection._reader_task)
    return await connection._get_request()
