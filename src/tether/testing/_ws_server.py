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

from collections.abc import Awaitable, Callable

import trio
import trio_websocket
import wsproto
from trio_websocket import WebSocketConnection
from wsproto.connection import ConnectionState
from wsproto.events import Ping

__all__ = ["open_server", "serve_websocket"]


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


#: Seconds a client gets for its opening handshake, and the server's Close for its
#: answer once the handler returned (trio-websocket's own defaults).
HANDSHAKE_TIMEOUT = 60.0
DISCONNECT_TIMEOUT = 60.0


async def serve_websocket(
    handler: Callable[[trio_websocket.WebSocketRequest], Awaitable[object]],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    message_queue_size: int = 64,
    max_message_size: int = 2**20,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve WebSocket on ``host:port`` (default 127.0.0.1 and an ephemeral port) until
    cancelled, as ``trio_websocket.serve_websocket`` does, with the Ping fix above: each
    connection's handshake request goes to ``handler`` (which accepts or rejects it);
    once the handler returns, the connection is closed (1000), bounded by
    :data:`DISCONNECT_TIMEOUT` seconds. A client gets :data:`HANDSHAKE_TIMEOUT` seconds
    for its handshake. ``nursery.start(serve_websocket, handler)`` returns the port.
    ``max_message_size`` is in bytes; ``message_queue_size`` in messages."""

    async def serve_stream(stream: trio.SocketStream) -> None:
        async with trio.open_nursery() as nursery:
            connection = WebSocketConnection(
                stream,
                wsproto.WSConnection(wsproto.ConnectionType.SERVER),
                message_queue_size=message_queue_size,
                max_message_size=max_message_size,
            )
            _answer_pings_only_while_open(connection)
            nursery.start_soon(connection._reader_task)
            request = None
            with trio.move_on_after(HANDSHAKE_TIMEOUT):
                request = await connection._get_request()
            if request is None:
                nursery.cancel_scope.cancel()
                await trio.aclose_forcefully(stream)
                return
            try:
                await handler(request)
            finally:
                with trio.move_on_after(DISCONNECT_TIMEOUT):
                    await connection.aclose()

    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, serve_stream, listeners)
        task_status.started(bound)
