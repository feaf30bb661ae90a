"""The session's two bounded message buffers, shared by every generation.

:class:`SendBuffer` holds outbound messages from ``send()``/``send_nowait()`` until a
generation's writer has written them; :class:`ReceiveBuffer` holds inbound messages until
the application reads them. Both outlive any one connection, which is what lets a send
made during a reconnect survive it and a ``receive()`` wait across it.

Their queues are created on first use: an idle session's buffers hold no storage (an empty
``deque`` is 760 bytes, a third of the memory budget of an idle session).
"""

from __future__ import annotations

from collections import deque

import trio

from ..config import Overflow
from ..exceptions import MessageDropped, SendBufferFull

__all__ = ["Outbound", "ReceiveBuffer", "SendBuffer"]

Message = str | bytes

#: The queue of a buffer that has never held anything: empty, and never written to.
_NEVER_USED: tuple[()] = ()


class _Changes:
    """Where a buffer's waiters park until it changes. The ``ParkingLot`` is made by
    the first wait: an idle session's buffers have none (250 bytes each). Slotted, as
    its subclasses are (an instance's ``__dict__`` is 100 bytes more)."""

    __slots__ = ("_changed",)

    def __init__(self) -> None:
        self._changed: trio.lowlevel.ParkingLot | None = None

    def _lot(self) -> trio.lowlevel.ParkingLot:
        lot = self._changed
        if lot is None:
            lot = self._changed = trio.lowlevel.ParkingLot()
        return lot

    def _unpark_all(self) -> None:
        lot = self._changed
        if lot is not None:
            lot.unpark_all()


class Outbound:
    """One buffered outbound message. ``done`` (only for ``send()``) is set once it was
    written (``error is None``) or abandoned (``error`` says why)."""

    __slots__ = ("done", "error", "in_flight", "message")

    def __init__(self, message: Message, done: trio.Event | None) -> None:
        self.message = message
        self.done = done
        self.error: BaseException | None = None
        self.in_flight = False


class SendBuffer(_Changes):
    """FIFO of at most ``capacity`` unwritten messages and ``max_bytes`` bytes of them,
    with an :class:`Overflow` policy. A message's size is its ``len()`` (see
    ``Config.send_buffer_bytes``); an empty buffer admits a message of any size.

    A message stays at the head while a writer is writing it (``in_flight``); if that
    write fails it is written again by the next generation's writer: at-least-once for
    that one message, exactly-once and in order for all others.
    """

    __slots__ = (
        "_capacity",
        "_closed",
        "_flying",
        "_flying_bytes",
        "_max_bytes",
        "_overflow",
        "_queue",
        "bytes",
        "dropped",
    )

    def __init__(self, capacity: int, max_bytes: int, overflow: Overflow) -> None:
        super().__init__()
        self._queue: deque[Outbound] | tuple[()] = _NEVER_USED
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._overflow = overflow
        self._closed: BaseException | None = None
        self.dropped = 0
        #: Sum of the sizes of the buffered messages (in flight included).
        self.bytes = 0
        #: The batch the writer has in flight: its messages and bytes.
        self._flying = 0
        self._flying_bytes = 0

    def __len__(self) -> int:
        return len(self._queue)

    def _fits(self, size: int) -> bool:
        queue = self._queue
        return not queue or (len(queue) < self._capacity and self.bytes + size <= self._max_bytes)

    def put_nowait(self, message: Message, done: trio.Event | None = None) -> int:
        """Buffer ``message``; return how many older messages were evicted to make room
        (only under ``DROP_OLDEST``). Raises the close error once closed, and
        ``SendBufferFull`` when full (by count or bytes) under ``BLOCK`` or ``RAISE``."""
        if self._closed is not None:
            raise self._closed
        size = len(message)
        evicted = 0
        queue = self._queue
        if queue and (len(queue) >= self._capacity or self.bytes + size > self._max_bytes):
            # (self._fits, inlined: this is once per buffered message)
            if self._overflow is not Overflow.DROP_OLDEST:
                raise SendBufferFull(self._full_message(size))
            evicted = self._evict_until_fits(size)
        self._writable().append(Outbound(message, done))
        self.bytes += size
        return evicted

    def _full_message(self, size: int, detail: str = "") -> str:
        if len(self._queue) >= self._capacity:
            return f"send buffer full ({self._capacity} messages{detail})"
        return (
            f"send buffer full ({self.bytes} of {self._max_bytes} bytes buffered, "
            f"this message {size} bytes{detail})"
        )

    def _writable(self) -> deque[Outbound]:
        queue = self._queue
        if isinstance(queue, tuple):
            queue = self._queue = deque()
        return queue

    async def put(self, message: Message) -> tuple[Outbound, int]:
        """Buffer ``message`` for a ``send()`` that will wait on it. Under ``BLOCK`` this
        waits for room; cancelled while waiting, nothing was buffered."""
        if self._overflow is Overflow.BLOCK:
            size = len(message)
            while self._closed is None and not self._fits(size):
                await self._lot().park()
        done = trio.Event()
        evicted = self.put_nowait(message, done)
        return self._writable()[-1], evicted

    def _evict_until_fits(self, size: int) -> int:
        """Evict the oldest messages not in flight until ``size`` bytes fit; evict
        nothing and raise ``SendBufferFull`` if even evicting all of them would not do."""
        flying = self._flying
        if flying and (flying >= self._capacity or self._flying_bytes + size > self._max_bytes):
            raise SendBufferFull(self._full_message(size, ", in flight"))
        queue = self._writable()
        evicted = 0
        while not self._fits(size):  # the check above: an entry not in flight is left
            entry = next(entry for entry in queue if not entry.in_flight)
            queue.remove(entry)
            self.bytes -= len(entry.message)
            self._abandon(entry, MessageDropped("evicted by Overflow.DROP_OLDEST"))
            evicted += 1
        self.dropped += evicted
        return evicted

    def withdraw(self, entry: Outbound) -> bool:
        """Remove an entry whose sender was cancelled, unless a writer already has it.
        Returns True if it was withdrawn (so nothing happened, the Trio convention)."""
        if entry.in_flight or entry.done is None or entry.done.is_set():
            return False
        # Still queued: every way out of the queue (written, evicted, abandoned) sets done.
        self._writable().remove(entry)
        self.bytes -= len(entry.message)
        self._unpark_all()
        return True

    def take_batch(self, max_messages: int, max_bytes: int) -> list[Outbound]:
        """Mark the oldest unwritten messages in flight and return them (the writer): at
        least one, then as many as fit in ``max_messages`` and ``max_bytes``. The buffer
        must not be empty, and no other batch in flight."""
        batch: list[Outbound] = []
        size = 0
        for entry in self._queue:
            length = len(entry.message)
            if batch and (size + length > max_bytes or len(batch) >= max_messages):
                break
            size += length
            entry.in_flight = True
            batch.append(entry)
        self._flying = len(batch)
        self._flying_bytes = size
        return batch

    def written(self, batch: list[Outbound]) -> None:
        """The writer wrote ``batch`` (the head entries, as taken): remove them, wake
        their senders."""
        queue = self._writable()
        for entry in batch:
            head = queue.popleft()
            assert head is entry
            entry.in_flight = False
            if entry.done is not None:
                entry.done.set()
        self.bytes -= self._flying_bytes
        self._flying = self._flying_bytes = 0
        self._unpark_all()

    def unwritten(self, batch: list[Outbound]) -> None:
        """The write of ``batch`` failed or was cancelled: it stays at the head."""
        for entry in batch:
            entry.in_flight = False
        self._flying = self._flying_bytes = 0

    def put_front(self, message: Message, done: trio.Event) -> Outbound:
        """Put back, ahead of everything, a message whose direct write failed: it was
        sent before anything now buffered. May exceed the capacity and the byte budget
        by this one message."""
        if self._closed is not None:
            raise self._closed
        entry = Outbound(message, done)
        self._writable().appendleft(entry)
        self.bytes += len(message)
        return entry

    async def wait_empty(self) -> None:
        """Wait until every buffered message has been written."""
        while self._queue:
            await self._lot().park()

    def close(self, error: BaseException) -> int:
        """Refuse further messages with ``error``; abandon the buffered ones (their
        senders get ``error``). Returns how many were abandoned."""
        self._closed = error
        queue = self._writable()
        abandoned = len(queue)
        while queue:
            self._abandon(queue.popleft(), error)
        self.bytes = self._flying = self._flying_bytes = 0
        self._unpark_all()
        return abandoned

    @staticmethod
    def _abandon(entry: Outbound, error: BaseException) -> None:
        entry.error = error
        if entry.done is not None:
            entry.done.set()


class ReceiveBuffer(_Changes):
    """FIFO of at most ``capacity`` received, unread messages and ``max_bytes`` bytes of
    them (a message's size is its ``len()``; an empty buffer admits one of any size).

    The connection's reader calls :meth:`wait_for_room` before handing over each message
    that does not :meth:`fits`, and stops reading the socket while it waits: that is the
    backpressure. Messages the reader has parsed but not yet handed over exist only
    while their connection is open; they are lost with it, like everything still in
    flight on a dropped link. ``blocked`` is true while the reader waits for room, which
    is how the health timers know the application, not the peer, is slow. Its waiters
    are the reader while it is full and ``get()`` while it is empty, never both at once.
    """

    __slots__ = ("_capacity", "_closed", "_max_bytes", "_queue", "blocked", "bytes")

    def __init__(self, capacity: int, max_bytes: int) -> None:
        super().__init__()
        self._queue: deque[Message] | tuple[()] = _NEVER_USED
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._closed: BaseException | None = None
        self.blocked = False
        #: Sum of the sizes of the buffered messages.
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._queue)

    def fits(self, size: int) -> bool:
        """Whether a message of ``size`` bytes may be put now."""
        queue = self._queue
        return not queue or (len(queue) < self._capacity and self.bytes + size <= self._max_bytes)

    async def wait_for_room(self, size: int) -> None:
        """Wait until a message of ``size`` bytes fits (the reader, once :meth:`fits`
        said no). Sets ``blocked`` while waiting."""
        self.blocked = True
        try:
            while not self.fits(size):
                await self._lot().park()
        finally:
            self.blocked = False

    def put(self, message: Message, size: int | None = None) -> None:
        """Append ``message``, room or not (:meth:`fits` is the caller's check); ``size``
        is its ``len()`` when the caller has it already."""
        queue = self._queue
        if isinstance(queue, tuple):
            queue = self._queue = deque()
        queue.append(message)
        self.bytes += len(message) if size is None else size
        self._unpark_all()

    async def get(self) -> Message:
        """Next message; waits across reconnects. Raises the close error once closed and
        drained. A checkpoint even when a message is ready."""
        await trio.lowlevel.checkpoint_if_cancelled()
        parked = False
        while not self._queue:
            if self._closed is not None:
                raise self._closed
            await self._lot().park()
            parked = True
        queue = self._queue
        assert isinstance(queue, deque)  # not empty, so it has been used
        message = queue.popleft()
        self.bytes -= len(message)
        self._unpark_all()
        if not parked:  # parking was the checkpoint; otherwise yield once now
            await trio.lowlevel.cancel_shielded_checkpoint()
        return message

    async def wait_empty(self) -> None:
        """Wait until the application has taken every buffered message."""
        while self._queue:
            await self._lot().park()

    def close(self, error: BaseException) -> None:
        """After the buffered messages, ``get()`` raises ``error`` (once, at the
        session's end)."""
        self._closed = error
        self._unpark_all()
