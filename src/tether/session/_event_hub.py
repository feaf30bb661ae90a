"""Event fan-out: every session event goes to the ``tether`` logger (at the level of
:func:`._logging.event_level`), to the ``on_event`` callback and to each
``Session.events()`` subscriber, never waiting for any of them."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ..events import Event
from ._event_stream import EventStream
from ._logging import SESSION_LOGGER, event_level

__all__ = ["EventHub"]

logger = SESSION_LOGGER

E = TypeVar("E", bound=Event)


class EventHub:
    """Subscribers and the ``on_event`` callback of one session.

    :meth:`emit` builds the event only when someone listens (with no subscriber and the
    logger off, an event costs a level lookup and one ``isEnabledFor``). A subscriber
    whose channel is full misses the event (counted in :attr:`dropped`).

    Subscribers are held by a weak reference to their :class:`EventStream` (the receive
    side) and a strong one to its send channel: a stream that is closed, or that nobody
    holds any more, is unsubscribed at once and its buffered events are freed. Weak
    references rather than "drop a subscriber whose channel stays full": a subscriber
    that is alive but slow keeps its subscription and only misses events, and an
    abandoned one costs nothing from the moment it is abandoned, full or not.
    """

    __slots__ = ("_on_event", "_subscribers", "dropped")

    def __init__(self, on_event: Callable[[Event], None] | None) -> None:
        self._on_event = on_event
        self._subscribers: dict[weakref.ref[EventStream], trio.MemorySendChannel[Event]] = {}
        #: Events a full subscriber channel did not take (``Statistics.events_dropped``).
        self.dropped = 0

    @property
    def subscribers(self) -> int:
        """Subscriptions live now (``Statistics.event_subscribers``)."""
        return len(self._subscribers)

    def subscribe(self, max_buffer: int, *, ended: bool) -> EventStream:
        """A stream holding up to ``max_buffer`` undelivered events; already at its end
        when the session has ``ended``."""
        send, receive = trio.open_memory_channel[Event](max_buffer)
        if ended:
            send.close()
            return EventStream(receive)
        stream = EventStream(receive, self._unsubscribe)
        self._subscribers[weakref.ref(stream, self._forget)] = send
        return stream

    def emit(self, kind: type[E], generation: int, **fields: Any) -> None:
        """Deliver ``kind(generation=..., at=trio.current_time(), **fields)``."""
        level = event_level(kind, fields)
        logged = logger.isEnabledFor(level)
        if not (logged or self._subscribers or self._on_event is not None):
            return
        event = kind(generation=generation, at=trio.current_time(), **fields)
        if logged:
            logger.log(level, "%s", event, extra={"generation": generation})
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                logger.exception("on_event callback raised; the session goes on")
        # A copy made in C: a weakref callback (_forget) that the cycle collector runs
        # during this loop's allocations changes the dict, not what is iterated.
        for ref, channel in self._subscribers.copy().items():
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._forget(ref)

    def close(self) -> None:
        """End every subscriber's channel (after the final ``Closed`` event)."""
        while self._subscribers:
            _, channel = self._subscribers.popitem()
            channel.close()

    def _unsubscribe(self, stream: EventStream) -> None:
        """``stream`` was closed."""
        self._forget(weakref.ref(stream))

    def _forget(self, ref: weakref.ref[EventStream]) -> None:
        """Drop a subscription: its stream was closed, or is gone (a weakref callback,
        so it may run at any allocation, even outside Trio: only non-blocking work)."""
        channel = self._subscribers.pop(ref, None)
        if channel is not None:
            channel.close()
