"""An in-memory WebSocket server with fault injection, for tests on trio's virtual clock.

::

    async with tether.testing.memory_server() as server:      # echo handler by default
        async with tether.connect("ws://example/", opener=server.opener) as session:
            await server.wait_connections(1)
            server.drop()                                     # the client sees 1006
            await server.wait_connections(2)                  # it reconnected

``server.opener`` is a stream opener (the transport seam of ``tether.connection._transport``): each
call creates a *link*, a pair of in-memory stream ends, hands the client end to the
caller and serves the other end with trio-websocket (``wrap_server_stream``, then
``accept()`` or ``reject()``, then the handler). No sockets, no real time: everything,
including the faults, runs on ``trio.current_time()``, so tests under
``MockClock(autojump_threshold=0)`` can assert exact virtual times.

How a link moves bytes. Each direction is a queue of chunks, one per ``send_all()``,
stamped with the time it was sent; writes never block. ``receive_some()`` hands out the
head chunk once the link is not stalled and ``now >= sent_at + delay`` (``delay`` is the
server's current :meth:`MemoryServer.slow` setting, 0 by default), parking until then.
End of stream travels through the same queue, after the data, so a stall holds back a
close too: a stalled link is half-open, exactly like a partitioned network. An abort
(:meth:`MemoryServer.drop`) bypasses the queues: both ends' pending and future
``receive_some()`` and ``send_all()`` raise ``trio.BrokenResourceError`` at once, like a
TCP reset; queued bytes are lost. Bytes written to an end whose peer has closed are
discarded (the kernel would buffer them until the reset arrives); the writer learns of
the close when the end of stream reaches it. There is no flow control: a handler
that sends in a loop should pace itself (a blocked client does not slow it down).
"""

from __future__ import annotations

import errno
import math
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Literal

import attrs
import trio
import trio_websocket

from ._faults import (
    Close,
    Drop,
    Fault,
    FaultPlan,
    Refuse,
    Reject,
    Restart,
    Slow,
    Stall,
    check_close_code,
)
from ._ws_server import open_server

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "ConnectionRecord",
    "Handler",
    "MemoryServer",
    "ServerConnection",
    "echo",
    "memory_server",
]

Handler = Callable[["ServerConnection"], Awaitable[None]]
"""An async function run once per accepted connection."""

ClosedBy = Literal["client", "server", "abort"]

_ABNORMAL_CLOSURE = 1006
_INTERNAL_ERROR = 1011


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
        """The next text (``str``) or binary (``bytes``) message; waits for it."""
        message = await self._ws.get_message()
        self.record.messages.append(message)
        return message

    async def send_message(self, message: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message."""
        await self._ws.send_message(message)

    async def ping(self, payload: bytes | None = None) -> None:
        """Send a ping and wait for its pong (forever, if the link is stalled)."""
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


async def echo(conn: ServerConnection) -> None:
    """The default handler: send every message straight back until the connection closes."""
    while True:
        await conn.send_message(await conn.get_message())


@attrs.define
class _Network:
    """Settings shared by every link of one server."""

    delay: float = 0.0


class _Pipe:
    """One direction of a link: chunks ``(sent_at, data)``; ``data is None`` is EOF."""

    def __init__(self) -> None:
        self.chunks: deque[tuple[float, bytes | None]] = deque()
        self.reader_closed = False


class _Link:
    """One in-memory connection: two ends, two pipes, shared stall and abort state."""

    def __init__(self, network: _Network) -> None:
        self.network = network
        self.stalled = False
        self.aborted = False
        self.lot = trio.lowlevel.ParkingLot()
        #: Called once, synchronously, when both ends have finished (see ``_LinkEnd``).
        self.on_done: Callable[[], None] | None = None
        up, down = _Pipe(), _Pipe()
        self.client_end = _LinkEnd(self, send=up, receive=down)
        self.server_end = _LinkEnd(self, send=down, receive=up)

    def wake(self) -> None:
        self.lot.unpark_all()

    def set_stalled(self, stalled: bool) -> None:
        self.stalled = stalled
        self.wake()

    def end_finished(self) -> None:
        if self.client_end.finished and self.server_end.finished and self.on_done is not None:
            self.on_done()

    def abort(self) -> None:
        if not self.aborted:
            self.aborted = True
            self.wake()
            self.client_end.finish()
            self.server_end.finish()


class _LinkEnd(trio.abc.Stream):
    """One end of a :class:`_Link`; see the module docstring for its behaviour."""

    def __init__(self, link: _Link, *, send: _Pipe, receive: _Pipe) -> None:
        self._link = link
        self._out = send
        self._in = receive
        self._closed = False
        self._receiving = False
        self._finished = False
        self.saw_eof = False
        #: Called once, synchronously, when this end is closed, sees EOF or is aborted.
        self.on_finished: Callable[[], None] | None = None

    @property
    def finished(self) -> bool:
        return self._finished

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            if self.on_finished is not None:
                self.on_finished()
            self._link.end_finished()

    def _check(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("this end of the memory link was closed")
        if self._link.aborted:
            raise trio.BrokenResourceError("connection reset (memory server abort)")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        self._check()
        if data and not self._out.reader_closed:
            self._out.chunks.append((trio.current_time(), bytes(data)))
            self._link.wake()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()
        self._check()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving")
        self._receiving = True
        try:
            await trio.lowlevel.checkpoint()
            while (data := self._take(max_bytes)) is None:
                await self._wait()
            return data
        finally:
            self._receiving = False

    def _due(self) -> float:
        """When the head chunk may be delivered (``inf``: nothing to deliver)."""
        if self._link.stalled or not self._in.chunks:
            return math.inf
        return self._in.chunks[0][0] + self._link.network.delay

    def _take(self, max_bytes: int | None) -> bytes | None:
        self._check()
        if trio.current_time() < self._due():
            return None
        sent_at, data = self._in.chunks[0]
        if data is None:
            self.saw_eof = True
            self.finish()
            return b""
        if max_bytes is None or len(data) <= max_bytes:
            self._in.chunks.popleft()
            return data
        self._in.chunks[0] = (sent_at, data[max_bytes:])
        return data[:max_bytes]

    async def _wait(self) -> None:
        with trio.move_on_at(self._due()):
            await self._link.lot.park()

    def close(self) -> None:
        """Close this end now: the peer gets EOF after the bytes already sent."""
        if self._closed:
            return
        self._closed = True
        self._in.reader_closed = True
        self._in.chunks.clear()
        if not self._link.aborted:
            self._out.chunks.append((trio.current_time(), None))
        self._link.wake()
        self.finish()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()


class _Connection:
    """The server's bookkeeping for one link."""

    def __init__(self, server: MemoryServer, record: ConnectionRecord, link: _Link) -> None:
        self.server = server
        self.record = record
        self.link = link
        self.conn: ServerConnection | None = None
        self.handshake_scope = trio.CancelScope()
        link.server_end.on_finished = self._finished
        link.on_done = lambda: server._live.remove(self)

    def _finished(self) -> None:
        record, conn = self.record, self.conn
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
        self.handshake_scope.cancel()
        self.server._changed()


def _header_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")


class MemoryServer:
    """An in-memory WebSocket server; create it with :func:`memory_server`.

    Faults can be injected at any moment, from any task; the synchronous ones take
    effect before they return. Times are seconds of ``trio.current_time()``.

    Attributes:
        connections: a :class:`ConnectionRecord` per stream handed out, in order.
        refused_attempts: how many opener calls raised ``ConnectionRefusedError``.
        fault_log: ``(time, fault)`` for every fault :meth:`run_plan` applied.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        handler: Handler,
        *,
        message_queue_size: int,
        max_message_size: int,
        receive_buffer_size: int | None,
    ) -> None:
        self._nursery = nursery
        self._handler = handler
        self._message_queue_size = message_queue_size
        self._max_message_size = max_message_size
        self._receive_buffer_size = receive_buffer_size
        self._network = _Network()
        self._lot = trio.lowlevel.ParkingLot()
        self._live: list[_Connection] = []
        self._refusals = 0
        self._rejections: deque[tuple[int, list[tuple[bytes, bytes]], bytes]] = deque()
        self._down = False
        self._shut = False
        self.connections: list[ConnectionRecord] = []
        self.refused_attempts = 0
        self.fault_log: list[tuple[float, Fault]] = []

    # -- the opener ---------------------------------------------------------------

    async def opener(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        """The stream opener to pass to ``tether.connect(..., opener=server.opener)``.

        ``host`` and ``port`` are only recorded; ``tls`` is ignored (no TLS in memory).
        Returns the client end of a new link at once (one checkpoint; no virtual time
        passes) and starts serving the other end. Raises ``ConnectionRefusedError`` (an
        ``OSError``, errno ``ECONNREFUSED``) while the server is down, for the attempts
        :meth:`refuse` asked for, and once the ``memory_server`` block has exited.
        Cancellation before it returns leaves no trace.
        """
        await trio.lowlevel.checkpoint()
        if self._shut or self._down or self._refusals:
            if not (self._shut or self._down):
                self._refusals -= 1
            self.refused_attempts += 1
            raise ConnectionRefusedError(errno.ECONNREFUSED, "memory server refused the connection")
        link = _Link(self._network)
        record = ConnectionRecord(
            id=len(self.connections) + 1, accepted_at=trio.current_time(), host=host, port=port
        )
        connection = _Connection(self, record, link)
        self.connections.append(record)
        self._live.append(connection)
        self._nursery.start_soon(self._serve, connection)
        self._changed()
        return link.client_end

    # -- observing ----------------------------------------------------------------

    @property
    def open_connections(self) -> list[ConnectionRecord]:
        """Records of the connections whose handshake was accepted and that are not closed."""
        return [r for r in self.connections if r.opened and r.closed_at is None]

    async def wait_connections(self, n: int) -> None:
        """Wait until ``n`` connections in total have been opened (handshake accepted).

        Returns after one checkpoint if that is already so. No timeout of its own;
        cancelling it is safe.
        """
        await self._wait_until(lambda: sum(r.opened for r in self.connections) >= n)

    async def wait_closed(self, n: int) -> None:
        """Wait until ``n`` connections in total (opened or not) have closed: their
        ``closed_at`` is set. No timeout of its own; cancelling it is safe."""
        await self._wait_until(lambda: sum(r.closed_at is not None for r in self.connections) >= n)

    # -- faults -------------------------------------------------------------------

    def drop(self) -> None:
        """Abort every live link, open or mid-handshake, like a TCP reset: no Close frame.

        At once (no virtual time passes) the client's pending and later reads and writes
        raise ``trio.BrokenResourceError``; a trio-websocket client's ``get_message()``
        raises ``ConnectionClosed`` with code 1006. Records get ``closed_by="abort"``.
        """
        for connection in list(self._live):
            connection.link.abort()

    async def close(self, code: int = 1001, reason: str = "") -> None:
        """Send a Close frame with ``code`` and ``reason`` on every open connection, then
        wait until each close handshake finishes (the client answers) or its link ends.

        The client sees ``ConnectionClosed`` with ``code`` as soon as the frame arrives
        (at once, or after the :meth:`slow` delay). Waits forever for a client that
        never answers (a stalled link); when cancelled, the connections still closing
        are closed without waiting (their clients see 1006). Raises ``ValueError`` for a
        code a peer may not send (outside 1000-4999, or 1004, 1005, 1006, 1015).
        """
        check_close_code(code)
        async with trio.open_nursery() as nursery:
            for connection in self._live:
                if connection.conn is not None and connection.record.closed_at is None:
                    nursery.start_soon(connection.conn.aclose, code, reason)

    def stall(self) -> None:
        """Half-open every live link: no bytes move in either direction (pings, pongs,
        Close frames and end of stream included) until :meth:`resume`. The links stay
        up and writes keep succeeding; the bytes queue. Links opened later are not
        stalled."""
        for connection in self._live:
            connection.link.set_stalled(True)

    def resume(self) -> None:
        """Undo :meth:`stall`: the queued bytes are delivered at once (each still no
        earlier than its :meth:`slow` delay after it was sent), in order."""
        for connection in self._live:
            connection.link.set_stalled(False)

    def slow(self, delay: float | None) -> None:
        """Deliver every chunk ``delay`` seconds after it was sent, in each direction, on
        every link (current and future); ``None`` or ``0`` undoes it.

        A chunk is one ``send_all()`` (one WebSocket frame with trio-websocket), so the
        delay is latency, not bandwidth: chunks sent together arrive together. An echo
        round trip takes ``2 * delay``; so does the opening handshake. The setting
        applies to chunks already in flight too: lowering it releases them sooner.
        Raises ``ValueError`` when ``delay`` is negative or not finite.
        """
        delay = 0.0 if delay is None else delay
        if not (math.isfinite(delay) and delay >= 0):
            raise ValueError(f"delay: must be finite and >= 0 seconds, got {delay!r}")
        self._network.delay = delay
        for connection in self._live:
            connection.link.wake()

    def refuse(self, n: int = 1) -> None:
        """Make the next ``n`` opener calls raise ``ConnectionRefusedError`` (adds to any
        refusals still pending). Calls refused while the server is down do not count."""
        _check_count("n", n)
        self._refusals += n

    def reject(
        self,
        n: int = 1,
        status: int = 503,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        """Answer the next ``n`` handshakes with HTTP ``status`` (300-599, default 503),
        ``headers`` and ``body``, instead of 101, then close the stream.

        A trio-websocket client gets ``ConnectionRejected`` (``status_code``,
        ``headers`` as pairs of bytes, ``body`` or ``None`` when empty) from its reader
        task, i.e. inside an ``ExceptionGroup`` from its nursery. Queued after any
        rejections still pending. Raises ``ValueError`` for a bad ``n`` or ``status``.
        """
        _check_count("n", n)
        if not 300 <= status <= 599:
            raise ValueError(f"status: must be within 300-599, got {status!r}")
        items = headers.items() if isinstance(headers, Mapping) else (headers or ())
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in items]
        for _ in range(n):
            self._rejections.append((status, list(encoded), body))

    def go_down(self) -> None:
        """Drop every live link (see :meth:`drop`) and refuse every attempt until
        :meth:`come_back`."""
        self._down = True
        self.drop()

    def come_back(self) -> None:
        """Accept connections again after :meth:`go_down`."""
        self._down = False

    async def restart(self, downtime: float) -> None:
        """:meth:`go_down`, sleep ``downtime`` seconds, :meth:`come_back`; returns
        ``downtime`` seconds after it was called. Comes back even when cancelled."""
        self.go_down()
        try:
            await trio.sleep(downtime)
        finally:
            self.come_back()

    async def run_plan(self, plan: FaultPlan) -> None:
        """Apply each fault of ``plan`` at exactly ``start + at`` (``start``: when this was
        called), and return when the last one's effect is over (``start + plan.end``,
        or later while a :class:`~tether.testing.Close` waits for its handshakes).

        Each fault is logged in :attr:`fault_log` as it is applied. Faults with a
        duration run side by side, so overlapping ones are allowed (a ``Stall`` that
        ends resumes every link, though). When cancelled, pending faults are skipped
        and the ones in effect are undone (resumed, previous delay, back up).
        """
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for item in plan.faults:
                await trio.sleep_until(start + item.at)
                self.fault_log.append((trio.current_time(), item.fault))
                self._apply(item.fault, nursery)

    def _apply(self, fault: Fault, nursery: trio.Nursery) -> None:
        """Apply ``fault`` now; what is left for later runs in ``nursery``."""
        if isinstance(fault, Drop):
            self.drop()
        elif isinstance(fault, Close):
            nursery.start_soon(self.close, fault.code, fault.reason)
        elif isinstance(fault, Stall):
            self.stall()
            nursery.start_soon(_undo_after, fault.duration, self.resume)
        elif isinstance(fault, Slow):
            previous = self._network.delay
            self.slow(fault.delay)
            nursery.start_soon(_undo_after, fault.duration, lambda: self.slow(previous))
        elif isinstance(fault, Refuse):
            self.refuse(fault.count)
        elif isinstance(fault, Reject):
            self.reject(fault.count, fault.status, fault.headers, fault.body)
        elif isinstance(fault, Restart):
            self.go_down()
            nursery.start_soon(_undo_after, fault.downtime, self.come_back)

    # -- internals ----------------------------------------------------------------

    def _changed(self) -> None:
        self._lot.unpark_all()

    async def _wait_until(self, predicate: Callable[[], bool]) -> None:
        await trio.lowlevel.checkpoint()
        while not predicate():
            await self._lot.park()

    def _shut_down(self) -> None:
        self._shut = True
        self.drop()

    async def _serve(self, connection: _Connection) -> None:
        end = connection.link.server_end
        try:
            async with trio.open_nursery() as nursery:
                try:
                    await self._handshake_and_handle(connection, nursery)
                except trio_websocket.ConnectionClosed:
                    pass
        finally:
            end.close()

    async def _handshake_and_handle(self, connection: _Connection, nursery: trio.Nursery) -> None:
        record, end = connection.record, connection.link.server_end
        request = None
        with connection.handshake_scope:  # cancelled when the link ends first
            request = await open_server(
                nursery,
                end,
                message_queue_size=self._message_queue_size,
                max_message_size=self._max_message_size,
                receive_buffer_size=self._receive_buffer_size,
            )
        if request is None:
            return
        record.path = request.path
        record.headers = _header_dict(request.headers)
        if request.proposed_subprotocols:
            record.headers["sec-websocket-protocol"] = ", ".join(request.proposed_subprotocols)
        if self._rejections:
            status, headers, body = self._rejections.popleft()
            record.rejected_status = status
            await request.reject(status, extra_headers=headers, body=body)
            end.close()  # also ends the reader task
            return
        conn = ServerConnection(await request.accept(), record)
        connection.conn = conn
        record.opened, record.opened_at = True, trio.current_time()
        self._changed()
        try:
            await self._handler(conn)
            code, reason = 1000, ""
        except trio_websocket.ConnectionClosed:
            return
        except Exception as exc:
            record.handler_error = exc
            code, reason = _INTERNAL_ERROR, "handler error"
        await conn.aclose(code, reason)


async def _undo_after(delay: float, undo: Callable[[], object]) -> None:
    try:
        await trio.sleep(delay)
    finally:
        undo()


@asynccontextmanager
async def memory_server(
    handler: Handler | None = None,
    *,
    message_queue_size: int = 1,
    max_message_size: int = 2**20,
    receive_buffer_size: int | None = 4096,
) -> AsyncIterator[MemoryServer]:
    """Run an in-memory WebSocket server for the duration of the ``async with`` block.

    ``handler`` is an async function run once per accepted connection with its
    :class:`ServerConnection`; default :func:`echo`. When it returns the server closes
    the connection with 1000; when it raises ``trio_websocket.ConnectionClosed`` the
    connection just ends; any other exception is stored in
    ``record.handler_error`` and the connection closed with 1011. A handler never
    crashes the server. ``message_queue_size`` (messages), ``max_message_size`` (bytes,
    larger messages close the connection with 1009) and ``receive_buffer_size`` (bytes
    per read) are trio-websocket's server settings; the defaults are its own.

    On exit every live link is aborted (clients still connected see 1006), handlers
    are cancelled and later opener calls are refused. An exception from the block
    propagates unchanged (not wrapped in an ``ExceptionGroup``).
    """
    error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            server = MemoryServer(
                nursery,
                handler or echo,
                message_queue_size=message_queue_size,
                max_message_size=max_message_size,
                receive_buffer_size=receive_buffer_size,
            )
            try:
                yield server
            finally:
                server._shut_down()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        error = group.exceptions[0]
    if error is not None:
        raise error
