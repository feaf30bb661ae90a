"""The subscriber's side of ``Session.events()``: a receive channel of events that
unsubscribes when it is closed, when its ``with`` block ends, or when nobody holds it
any more."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import trio

from ..events import Event

__all__ = ["EventStream"]


def _nothing(stream: EventStream) -> None:
    return None


class EventStream(trio.abc.ReceiveChannel[Event]):
    """One ``Session.events()`` subscription: a ``trio.abc.ReceiveChannel`` of
    :mod:`tether.events`, in the order they happened.

    Read it with ``async for event in stream`` (it ends after the session's final
    ``Closed`` event), ``await stream.receive()`` or ``stream.receive_nowait()``. It
    holds up to the ``max_buffer`` given to ``events()``; the session never waits for
    it, and events that find it full are dropped for it (``Statistics.events_dropped``).

    The subscription ends, and the session stops feeding it at once, when the stream is
    closed (``close()``, ``await aclose()``), when a ``with stream:`` or
    ``async with stream:`` block around it exits, or when the stream is garbage: the
    session holds it only by a weak reference, so a loop that returned from
    ``async for event in session.events()`` unsubscribes when its last reference goes
    (at once in CPython, unless the stream sits in a reference cycle). After
    ``close()``, ``receive()`` raises ``trio.ClosedResourceError``; the events still
    buffered are discarded.
    """

    __slots__ = ("__weakref__", "_receive", "_unsubscribe")

    def __init__(
        self,
        receive: trio.MemoryReceiveChannel[Event],
        unsubscribe: Callable[[EventStream], None] = _nothing,
    ) -> None:
        self._receive = receive
        self._unsubscribe = unsubscribe

    async def receive(self) -> Event:
        """The next event; waits for one. Raises ``trio.EndOfChannel`` after the
        session's final ``Closed`` event, ``trio.ClosedResourceError`` once closed.
        Cancellation: no event is lost; the next call returns it."""
        return await self._receive.receive()

    def receive_nowait(self) -> Event:
        """The next buffered event. Raises ``trio.WouldBlock`` when none is buffered,
        ``trio.EndOfChannel`` after ``Closed``, ``trio.ClosedResourceError`` once
        closed."""
        return self._receive.receive_nowait()

    def statistics(self) -> trio.MemoryChannelStatistics:
        """The underlying memory channel's statistics (``current_buffer_used`` events
        waiting, ``max_buffer_size``; ``open_send_channels`` is 0 once the session has
        ended it or it is unsubscribed)."""
        return self._receive.statistics()

    def close(self) -> None:
        """Unsubscribe now and discard what is buffered. Idempotent."""
        self._receive.close()
        unsubscribe, self._unsubscribe = self._unsubscribe, _nothing
        unsubscribe(self)

    async def aclose(self) -> None:
        """:meth:`close`, then a checkpoint (``trio.abc.AsyncResource``)."""
        self.close()
        await trio.lowlevel.checkpoint()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
