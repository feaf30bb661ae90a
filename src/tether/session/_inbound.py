"""Where an open generation's connection hands what it reads: :class:`Inbound`, the
session's :class:`tether.connection.Sink`."""

from __future__ import annotations

import trio

from ..connection import ClientConnection, lost_error
from ._buffers import Message, ReceiveBuffer, SendBuffer
from ._counters import Counters
from ._generation import Generation

__all__ = ["Inbound"]


class Inbound:
    """The sink of one open generation's connection (``ClientConnection.serve``): its
    messages go to the session's receive buffer, a pong wakes the generation's task
    (which drives the pinger), the connection's end ends the generation. One slotted
    object per generation instead of four callbacks (a ``functools.partial`` is 256
    bytes, a bound method 64)."""

    __slots__ = ("_changed", "_counters", "_generation", "_receive_buffer", "_send_buffer", "_ws")

    def __init__(
        self,
        generation: Generation,
        ws: ClientConnection,
        *,
        receive_buffer: ReceiveBuffer,
        send_buffer: SendBuffer,
        counters: Counters,
        changed: trio.lowlevel.ParkingLot,
    ) -> None:
        self._generation = generation
        self._ws = ws
        self._receive_buffer = receive_buffer
        self._send_buffer = send_buffer
        self._counters = counters
        self._changed = changed

    async def deliver(self, message: Message) -> None:
        """Called by the connection's reader task with each complete inbound message.
        Waiting here for room is the backpressure: while it waits, that task does not
        read the socket."""
        buffer = self._receive_buffer
        size = len(message)
        if not buffer.fits(size):
            await buffer.wait_for_room(size)
        self._generation.last_data_at = self._counters.last_message_at = trio.current_time()
        self._counters.messages_received += 1
        buffer.put(message, size)

    def pong_received(self) -> None:
        """Wake the generation's task: the pinger takes the pong."""
        self._changed.unpark_all()

    def connection_ended(self) -> None:
        """The connection's reader ended: the connection is over."""
        self._generation.end(lost_error(self._ws))

    async def before_failing(self) -> None:
        """The server broke the protocol: before the Close, let the application take
        what is in the receive buffer and have its replies written (the connection
        bounds this with ``VIOLATION_GRACE``). Two checkpoints after the buffer empties
        give a reader that answers at once (``send()`` right after ``receive()``) its
        turn; then the send buffer is flushed."""
        await self._receive_buffer.wait_empty()
        await trio.lowlevel.cancel_shielded_checkpoint()
        await trio.lowlevel.cancel_shielded_checkpoint()
        await self._send_buffer.wait_empty()
