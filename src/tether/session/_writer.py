"""Writes: from ``send()``'s own task when nothing is queued, else through the send
buffer and a writer task that runs only while messages are queued and coalesces them.

Order is kept across both paths: a direct write happens only when the buffer is empty
and no other write is under way, and the connection's write turn is FIFO. A message
whose write was cut off by a lost connection goes back to the head of the buffer and is
written on the next generation (at-least-once for that message). A generation that a
rotation retires starts no new write: sends queue for its successor, which takes over
once the retiring one's writes are done, so order holds across the rotation too.

With ``Config.send_rate`` the session has a :class:`PacedWriter`: every message goes
through the buffer and the writer task (no direct write), which writes no more than
the token bucket allows (:class:`tether.policy.TokenBucket`) and sleeps until the
next token otherwise: one place paces, so order and pace hold together. Without it,
``Writer.send`` is untouched by pacing (a subclass, not a test per message); the
writer task tests for a bucket once per batch."""

from __future__ import annotations

from typing import ClassVar

import trio

from ..connection import ClientConnection, ConnectionClosed, lost_error
from ..events import LostReason, MessagesDropped
from ..exceptions import ConnectionLostError, SessionClosed
from ..policy import TokenBucket
from ._buffers import Message, Outbound, SendBuffer
from ._closing import Closer
from ._counters import Counters
from ._event_hub import EventHub
from ._generation import Generation, GenerationSlot
from ._lifecycle import Lifecycle

__all__ = ["WRITE_BATCH_BYTES", "WRITE_BATCH_MESSAGES", "PacedWriter", "Writer"]

#: The writer coalesces queued messages into one ``send_all`` of at most this many
#: messages and bytes (a single larger message is still written alone).
WRITE_BATCH_MESSAGES = 256
WRITE_BATCH_BYTES = 256 * 1024


class Writer:
    """The session's outbound path over whichever generation is open."""

    __slots__ = ("_buffer", "_closer", "_counters", "_hub", "_lifecycle", "_pacer", "_slot")

    #: Whether ``send()`` may write from the caller's task when nothing is queued.
    _writes_directly: ClassVar[bool] = True

    def __init__(
        self,
        send_buffer: SendBuffer,
        slot: GenerationSlot,
        closer: Closer,
        lifecycle: Lifecycle,
        counters: Counters,
        hub: EventHub,
    ) -> None:
        self._buffer = send_buffer
        self._slot = slot
        self._closer = closer
        self._lifecycle = lifecycle
        self._counters = counters
        self._hub = hub
        #: ``Config.send_rate``'s bucket (:class:`PacedWriter`); ``None``: no limit.
        self._pacer: TokenBucket | None = None

    async def send(self, raw: Message) -> None:
        """``Session.send()`` for an encoded message (its docstring has the contract)."""
        active = self._slot.active
        if (
            self._writes_directly
            and active is not None
            and active.opened
            and not active.writing
            and not active.retiring
            and not self._buffer
            and active.outcome is None
            and self._closer.request is None
        ):
            # Nothing queued and a connection is open: write from this task (two task
            # switches fewer per message than through the writer task).
            entry = await self._write_directly(active, raw)
            if entry is None:
                return
        else:
            try:
                entry, evicted = await self._buffer.put(raw)
            except SessionClosed:
                self._lifecycle.terminal_seen = True
                raise
            self.ensure_writer()
            if evicted:
                self._hub.emit(MessagesDropped, self._lifecycle.generation, count=evicted)
        assert entry.done is not None
        try:
            await entry.done.wait()
        except BaseException:
            self._buffer.withdraw(entry)
            raise
        if entry.error is not None:
            if isinstance(entry.error, SessionClosed):
                self._lifecycle.terminal_seen = True
            raise entry.error

    def send_nowait(self, raw: Message) -> None:
        """``Session.send_nowait()`` for an encoded message."""
        evicted = self._buffer.put_nowait(raw)
        self.ensure_writer()
        if evicted:
            self._hub.emit(MessagesDropped, self._lifecycle.generation, count=evicted)

    async def _write_directly(self, generation: Generation, raw: Message) -> Outbound | None:
        """Write ``raw`` on ``generation`` now. Returns None once written; if the
        connection turned out to be dead, puts the message back at the head of the send
        buffer (it precedes anything queued meanwhile) and returns its entry to wait on.
        Cancelled while waiting for its write turn, nothing was written (the usual Trio
        meaning of a cancelled send); cancelled mid-write, the stream may hold a partial
        frame: the generation ends."""
        ws = generation.ws
        assert ws is not None
        generation.writing = True
        try:
            await ws.send((raw,))
        except ConnectionClosed:
            generation.end(lost_error(ws))
            return self._buffer.put_front(raw, trio.Event())
        except BaseException:
            if not ws.frame_cut:
                raise
            generation.write_interrupted = True
            generation.end(
                ConnectionLostError(
                    LostReason.TRANSPORT_ERROR, None, "a send() was cancelled mid-write"
                )
            )
            raise
        finally:
            generation.writing = False
            if generation.retiring:  # its rotation waits for this write
                self._lifecycle.changed.unpark_all()
        self._counters.messages_sent += 1
        return None

    def ensure_writer(self) -> None:
        """Start the open generation's writer if messages are queued and none is running."""
        generation = self._slot.active
        if (
            generation is not None
            and generation.senders is not None
            and not generation.writer_running
            and not generation.retiring
            and generation.outcome is None
            and self._buffer
        ):
            generation.writer_running = True
            ws = generation.ws
            assert ws is not None
            generation.senders.start_soon(self._write_queued, generation, ws)

    async def _write_queued(self, generation: Generation, ws: ClientConnection) -> None:
        """The writer task: write the send buffer in order until it is empty, coalescing
        whatever is queued into one ``send_all`` (at most WRITE_BATCH_MESSAGES /
        WRITE_BATCH_BYTES at a time, and under ``Config.send_rate`` no more than the
        bucket allows now: it sleeps until the next token when none is left). Returns
        when nothing is left, so an idle session has no writer task."""
        buffer = self._buffer
        pacer = self._pacer
        try:
            while buffer and not generation.retiring:
                limit = WRITE_BATCH_MESSAGES
                if pacer is not None:
                    now = trio.current_time()
                    allowed = pacer.available(now)
                    if not allowed:
                        await trio.sleep_until(pacer.next_at(now))
                        continue
                    limit = min(limit, allowed)
                batch = buffer.take_batch(limit, WRITE_BATCH_BYTES)
                if pacer is not None:
                    pacer.take(len(batch), trio.current_time())
                written = False
                try:
                    await ws.send([entry.message for entry in batch])
                    written = True
                except ConnectionClosed:
                    generation.end(lost_error(ws))
                    return
                finally:
                    if written:
                        buffer.written(batch)
                        self._counters.messages_sent += len(batch)
                    else:
                        buffer.unwritten(batch)
                        if ws.frame_cut or ws.broken is not None:
                            generation.write_interrupted = True
        finally:
            generation.writer_running = False
            if generation.retiring:  # its rotation waits for this writer
                self._lifecycle.changed.unpark_all()


class PacedWriter(Writer):
    """The writer under ``Config.send_rate``: ``send()`` always queues (the writer
    task paces; a direct write would jump the queue while it waits for a token)."""

    __slots__ = ()
    _writes_directly = False

    def __init__(
        self,
        send_buffer: SendBuffer,
        slot: GenerationSlot,
        closer: Closer,
        lifecycle: Lifecycle,
        counters: Counters,
        hub: EventHub,
        pacer: TokenBucket,
    ) -> None:
        super().__init__(send_buffer, slot, closer, lifecycle, counters, hub)
        self._pacer = pacer
