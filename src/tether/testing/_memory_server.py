"""The in-memory WebSocket server: :func:`memory_server` runs a :class:`MemoryServer`,
whose opener hands out links and whose methods inject faults, on trio's virtual clock.

::

    async with tether.testing.memory_server() as server:      # echo handler by default
        async with tether.connect("ws://example/", opener=server.opener) as session:
            await server.wait_connections(1)
            server.drop()                                     # the client sees 1006
            await server.wait_connections(2)                  # it reconnected

``server.opener`` is a :data:`tether.Opener` (the transport seam of
:mod:`tether.connection`): each call creates a link (``_link``: a pair of in-memory
stream ends), hands the client end to the caller and serves the other end with
trio-websocket (``_serving``: the handshake, ``accept()`` or ``reject()``, then the
handler). No sockets, no real time: everything, including the faults, runs on
``trio.current_time()``, so tests under ``MockClock(autojump_threshold=0)`` can assert
exact virtual times.
"""

from __future__ import annotations

import errno
import math
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager

import trio

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
from ._handlers import Handler, echo
from ._link import Link, MemoryNetwork
from ._server_connection import ConnectionRecord
from ._serving import Rejection, ServedLink, WebSocketSettings, rejections

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["MemoryServer", "memory_server"]


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
        self._settings = WebSocketSettings(
            message_queue_size=message_queue_size,
            max_message_size=max_message_size,
            receive_buffer_size=receive_buffer_size,
        )
        self._network = MemoryNetwork()
        self._lot = trio.lowlevel.ParkingLot()
        self._live: list[ServedLink] = []
        self._refusals = 0
        self._rejections: deque[Rejection] = deque()
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
        link = Link(self._network)
        record = ConnectionRecord(
            id=len(self.connections) + 1, accepted_at=trio.current_time(), host=host, port=port
        )
        connection = ServedLink(record, link, on_change=self._changed, on_done=self._live.remove)
        self.connections.append(record)
        self._live.append(connection)
        self._nursery.start_soon(
            connection.serve, self._handler, self._settings, self._next_rejection
        )
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
        self._rejections.extend(rejections(n, status, headers, body))

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

    def _next_rejection(self) -> Rejection | None:
        return self._rejections.popleft() if self._rejections else None

    def _shut_down(self) -> None:
        self._shut = True
        self.drop()


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
