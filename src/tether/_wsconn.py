"""The one place tether touches trio-websocket beyond its public API.

trio-websocket 0.12.2 (DESIGN.md section 5) has three behaviours the session designs
around, all handled here:

* ``wrap_client_stream`` waits only for the open handshake: a server that closes the
  TCP stream instead of answering leaves it waiting forever. :func:`open_client` waits
  for the open *or* the close handshake.
* A rejected handshake is raised by the library's reader task into the nursery given to
  it; the session unwraps the resulting group and maps it with :func:`map_error`.
* Sending a Close frame means waiting for the reply, which needs the library's reader
  task. When that task is already cancelled (the session's scope was cancelled),
  :func:`send_close_frame` writes the frame directly.

Its annotations say ``SocketStream | SSLStream``; any ``trio.abc.Stream`` works, so the
seam casts once, here.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import trio
import trio_websocket
import wsproto
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketConnection
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Ping

from .events import LostReason
from .exceptions import ConnectionLostError, HandshakeRejected

__all__ = [
    "ConnectionClosed",
    "InboundTap",
    "encode_frame",
    "WebSocketConnection",
    "lost_error",
    "map_error",
    "open_client",
    "open_server",
    "send_close_frame",
    "send_messages",
    "start_close",
]

#: trio-websocket's internal queue between its reader and ``get_message()``. The
#: library's default of 1 stalls its reader whenever the application is a moment late
#: (DESIGN.md section 5); the session's own ReceiveBuffer bounds memory, so a small queue
#: here only smooths bursts.
MESSAGE_QUEUE_SIZE = 64
#: Bytes asked of the stream per read (the library's default is 4 KiB: 114 MiB/s for
#: 1 MiB messages, against 207 MiB/s at 64 KiB).
RECEIVE_BUFFER_SIZE = 65536

_OVERSIZE_REASON_PREFIX = "Exceeded maximum message size"


async def open_client(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    host: str,
    resource: str,
    subprotocols: tuple[str, ...],
    extra_headers: list[tuple[bytes, bytes]],
    max_message_size: int,
) -> tuple[WebSocketConnection, InboundTap]:
    """Run the client handshake over ``stream``; the library's reader runs in ``nursery``.

    Returns the open connection and the :class:`InboundTap` its messages arrive on.
    Raises ``ConnectionResetError`` when the server ends the stream instead of answering;
    a rejection is raised by the reader into ``nursery``. Cancellation: the caller closes
    the stream.
    """
    connection = WebSocketConnection(
        cast(Any, stream),
        wsproto.WSConnection(wsproto.ConnectionType.CLIENT),
        host=host,
        path=resource,
        client_subprotocols=list(subprotocols),
        client_extra_headers=extra_headers,
        message_queue_size=MESSAGE_QUEUE_SIZE,
        max_message_size=max_message_size,
        receive_buffer_size=RECEIVE_BUFFER_SIZE,
    )
    _answer_pings_only_while_open(connection)
    tap = InboundTap(connection, MESSAGE_QUEUE_SIZE)
    connection._send_channel = cast(Any, tap)
    nursery.start_soon(connection._reader_task)
    async with trio.open_nursery() as race:

        async def wait(event: trio.Event) -> None:
            await event.wait()
            race.cancel_scope.cancel()

        race.start_soon(wait, connection._open_handshake)
        race.start_soon(wait, connection._close_handshake)
    if not connection._open_handshake.is_set():
        raise ConnectionResetError("the server closed the connection during the handshake")
    return connection, tap


class InboundTap:
    """Stands in for trio-websocket's internal message channel, so that its reader task
    hands each complete message straight to tether: no second queue, no extra task and
    no task switch per message.

    The library's reader calls ``send(message)`` (and waits on it: that is the
    backpressure that stops it reading the socket), ``aclose()`` when the connection
    ends, and enters the tap as an async context manager. Until :meth:`serve` is called
    (while ``on_connect`` runs) messages wait here, at most ``capacity`` of them, for
    :meth:`receive`; afterwards they go to the sink, and :meth:`serve` returns those
    still waiting so that order is kept.
    """

    def __init__(self, connection: WebSocketConnection, capacity: int) -> None:
        self._connection = connection
        self._capacity = capacity
        self._waiting: collections.deque[str | bytes] = collections.deque()
        self._changed = trio.lowlevel.ParkingLot()
        self._sink: Callable[[str | bytes], Awaitable[None]] | None = None
        self._detached = False
        self.closed = trio.Event()
        #: Called (synchronously) when the connection ends, once serving.
        self.on_closed: Callable[[], None] | None = None

    async def send(self, message: str | bytes) -> None:
        if self._detached:
            raise trio.ClosedResourceError
        while self._sink is None and len(self._waiting) >= self._capacity:
            await self._changed.park()
        if self._sink is not None:
            await self._sink(message)
        else:
            self._waiting.append(message)
            self._changed.unpark_all()

    async def aclose(self) -> None:
        """The library: the connection has ended."""
        self._close(connection_ended=True)
        await trio.lowlevel.checkpoint()

    def _close(self, *, connection_ended: bool) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self._changed.unpark_all()
            if connection_ended and self.on_closed is not None:
                self.on_closed()

    async def __aenter__(self) -> InboundTap:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        # The library's reader is leaving. If it was cancelled, the connection did not
        # end: tether is tearing the generation down and decides how to close it.
        self._close(connection_ended=not isinstance(exc, trio.Cancelled))
        await trio.lowlevel.checkpoint()

    async def receive(self) -> str | bytes:
        """The next message before :meth:`serve` (for ``on_connect``). Raises
        ``ConnectionLostError`` once the connection has ended."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._waiting:
            if self.closed.is_set():
                raise lost_error(self._connection)
            await self._changed.park()
        message = self._waiting.popleft()
        self._changed.unpark_all()
        return message

    def serve(self, sink: Callable[[str | bytes], Awaitable[None]]) -> list[str | bytes]:
        """From now on deliver to ``sink``; returns the messages that arrived before."""
        self._sink = sink
        waiting = list(self._waiting)
        self._waiting.clear()
        self._changed.unpark_all()
        return waiting

    def detach(self) -> None:
        """Deliver nothing more (the generation is over); the library drops the rest."""
        self._detached = True
        self._sink = None


#: ``_XOR_TABLES[k]`` maps every byte ``b`` to ``b ^ k``: masking a stride of the payload
#: with ``bytes.translate`` runs in C.
_XOR_TABLES = [bytes(value ^ key for value in range(256)) for key in range(256)]
#: Below this payload size, masking through one big-integer XOR is faster than four
#: strided ``translate`` passes (measured: 0.8 us against 2.6 us for 32 bytes; 5 ms
#: against 2 ms for 1 MiB).
_SMALL_PAYLOAD = 4096


def encode_frame(message: str | bytes) -> bytes | bytearray:
    """One complete, masked client data frame for ``message`` (RFC 6455 section 5.2):
    FIN set, opcode text (``str``, sent as UTF-8) or binary (``bytes``), a fresh 4-byte
    masking key from ``os.urandom`` (section 5.3 wants it unpredictable).

    Built in one buffer and masked in place, which saves wsproto's two extra copies of
    the payload; frames are byte-for-byte what wsproto would send, but for the key.
    """
    if isinstance(message, str):
        payload, first = message.encode("utf-8"), 0x81
    else:
        payload, first = message, 0x82
    size = len(payload)
    if size < 126:
        header = bytes((first, 0x80 | size))
    elif size < 65536:
        header = bytes((first, 0xFE)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, 0xFF)) + size.to_bytes(8, "big")
    key = os.urandom(4)
    if size < _SMALL_PAYLOAD:
        mask = int.from_bytes(key * (size // 4 + 1), "little") & ((1 << (8 * size)) - 1)
        masked = (int.from_bytes(payload, "little") ^ mask).to_bytes(size, "little")
        return header + key + masked
    frame = bytearray(header)
    frame += key
    start = len(frame)
    frame += payload
    for offset in range(4):
        position = start + offset
        frame[position::4] = frame[position::4].translate(_XOR_TABLES[key[offset]])
    return frame


async def send_messages(connection: WebSocketConnection, messages: Sequence[str | bytes]) -> None:
    """Write ``messages`` in order with a single ``send_all`` (frames from
    :func:`encode_frame`). Raises ``ConnectionClosed`` once the connection is closing or
    closed, like the library's ``send_message``, under the library's stream lock, so
    frames never interleave with its pings, pongs and Close."""
    if connection._close_reason or connection._wsproto.state is not ConnectionState.OPEN:
        raise ConnectionClosed(connection._close_reason)
    data: bytes | bytearray
    if len(messages) == 1:
        data = encode_frame(messages[0])
    else:
        data = b"".join([encode_frame(message) for message in messages])
    lock = connection._stream_lock
    try:
        lock.acquire_nowait()  # uncontended: no extra yield; send_all checkpoints anyway
    except trio.WouldBlock:
        await lock.acquire()
    try:
        await connection._stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        await connection._abort_web_socket()
        raise ConnectionClosed(connection._close_reason) from None
    finally:
        lock.release()


def _answer_pings_only_while_open(connection: WebSocketConnection) -> None:
    """trio-websocket answers every Ping with a Pong, even after its own Close frame went
    out; wsproto then raises ``LocalProtocolError`` inside the library's reader task and
    the connection dies mid close handshake. RFC 6455 section 5.5.1: after sending Close
    an endpoint sends no further data frames, so pings are answered only while the
    connection is open. Installed before the reader task starts (it reads its handler
    table once)."""

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
    """Server side of the handshake over ``stream`` (for ``tether.testing``): like
    ``trio_websocket.wrap_server_stream``, with the Ping guard above."""
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


def lost_error(connection: WebSocketConnection, detail: str = "") -> ConnectionLostError:
    """Classify how an open connection ended, from the close reason the library kept."""
    reason = connection.closed
    if reason is None:
        return ConnectionLostError(LostReason.TRANSPORT_ERROR, None, detail or "stream broke")
    code = int(reason.code)
    text = reason.reason or ""
    if code == 1006:
        return ConnectionLostError(
            LostReason.TRANSPORT_ERROR, 1006, text or "stream ended without a Close frame"
        )
    if code == 1009 and text.startswith(_OVERSIZE_REASON_PREFIX):
        return ConnectionLostError(LostReason.PROTOCOL_ERROR, 1009, text)
    if code == 1002 and not connection._for_testing_peer_closed_connection.is_set():
        return ConnectionLostError(LostReason.PROTOCOL_ERROR, 1002, text or "protocol error")
    return ConnectionLostError(LostReason.PEER_CLOSED, code, text or reason.name)


def map_error(error: BaseException) -> BaseException:
    """Map a library error raised while connecting to the one the policy classifies."""
    if isinstance(error, ConnectionRejected):
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in error.headers or ()
        }
        rejected = HandshakeRejected(error.status_code, headers, error.body or b"")
        rejected.__cause__ = error
        return rejected
    if isinstance(error, (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError)):
        reset = ConnectionResetError(f"connection broke while connecting: {error!r}")
        reset.__cause__ = error
        return reset
    if isinstance(error, trio_websocket.HandshakeError):
        failed = ConnectionError(f"handshake failed: {error!r}")
        failed.__cause__ = error
        return failed
    return error


async def send_close_frame(
    connection: WebSocketConnection, stream: trio.abc.Stream, code: int, reason: str
) -> None:
    """Write a Close frame without waiting for the reply (the library's reader is gone).
    Does nothing if the connection is not open. Raises nothing the transport raises."""
    ws = connection._wsproto
    if ws.state is not ConnectionState.OPEN:
        return
    try:
        await stream.send_all(ws.send(CloseConnection(code=code, reason=reason)))
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
        pass


async def start_close(connection: WebSocketConnection, code: int, reason: str) -> None:
    """Send a Close frame and return, leaving the library's reader running so that
    messages the peer sent before its own Close are still delivered. (The library's
    ``aclose()`` discards them.) Does nothing unless the connection is open."""
    if connection._wsproto.state is not ConnectionState.OPEN:
        return
    with contextlib.suppress(ConnectionClosed):
        await connection._send(CloseConnection(code=code, reason=reason or None))
