"""The memory server's transport: a *link* is a pair of in-memory stream ends, with
stall, latency and abort, on trio's clock.

How a link moves bytes. Each direction is a queue of chunks, one per ``send_all()``,
stamped with the time it was sent; writes never block. ``receive_some()`` hands out the
head chunk once the link is not stalled and ``now >= sent_at + delay`` (``delay`` is the
:class:`MemoryNetwork`'s, set by ``MemoryServer.slow``, 0 by default), parking until
then. End of stream travels through the same queue, after the data, so a stall holds
back a close too: a stalled link is half-open, exactly like a partitioned network. An
abort (``MemoryServer.drop``) bypasses the queues: both ends' pending and future
``receive_some()`` and ``send_all()`` raise ``trio.BrokenResourceError`` at once, like a
TCP reset; queued bytes are lost. Bytes written to an end whose peer has closed are
discarded (the kernel would buffer them until the reset arrives); the writer learns of
the close when the end of stream reaches it. There is no flow control: a handler
that sends in a loop should pace itself (a blocked client does not slow it down).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import attrs
import trio

__all__ = ["Link", "LinkEnd", "MemoryNetwork"]


@attrs.define
class MemoryNetwork:
    """Settings shared by every link of one server."""

    delay: float = 0.0


class _Pipe:
    """One direction of a link: chunks ``(sent_at, data)``; ``data is None`` is EOF."""

    def __init__(self) -> None:
        self.chunks: deque[tuple[float, bytes | None]] = deque()
        self.reader_closed = False


class Link:
    """One in-memory connection: two ends, two pipes, shared stall and abort state."""

    def __init__(self, network: MemoryNetwork) -> None:
        self.network = network
        self.stalled = False
        self.aborted = False
        self.lot = trio.lowlevel.ParkingLot()
        #: Called once, synchronously, when both ends have finished (see ``LinkEnd``).
        self.on_done: Callable[[], None] | None = None
        up, down = _Pipe(), _Pipe()
        self.client_end = LinkEnd(self, send=up, receive=down)
        self.server_end = LinkEnd(self, send=down, receive=up)

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


class LinkEnd(trio.abc.Stream):
    """One end of a :class:`Link`; see the module docstring for its behaviour."""

    def __init__(self, link: Link, *, send: _Pipe, receive: _Pipe) -> None:
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
        # As trio's SocketStream with room in the socket buffer: a cancellation is seen
        # before anything is written, never after; then one (shielded) yield.
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check()
        if data and not self._out.reader_closed:
            self._out.chunks.append((trio.current_time(), bytes(data)))
            self._link.wake()
        await trio.lowlevel.cancel_shielded_checkpoint()

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
