"""Event fan-out: every session event goes to the ``on_event`` callback and to each
``Session.events()`` subscriber, never waiting for either."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ..events import Event

__all__ = ["EventHub"]

logger = logging.getLogger("tether")

E = TypeVar("E", bound=Event)


class EventHub:
    """Subscribers and the ``on_event`` callback of one session.

    :meth:`emit` builds the event only when someone listens (an idle session with no
    subscriber pays one truth test per event). A subscriber whose channel is full misses
    the event (counted in :attr:`dropped`); a closed channel is unsubscribed.
    """

    __slots__ = ("_on_event", "_subscribers", "dropped")

    def __init__(self, on_event: Callable[[Event], None] | None) -> None:
        self._on_event = on_event
        self._subscribers: list[trio.MemorySendChannel[Event]] = []
        #: Events a full subscriber channel did not take (``Statistics.events_dropped``).
        self.dropped = 0

    def subscribe(self, max_buffer: int, *, ended: bool) -> trio.MemoryReceiveChannel[Event]:
        """A receive channel holding up to ``max_buffer`` undelivered events; already
        closed when the session has ``ended``."""
        send, receive = trio.open_memory_channel[Event](max_buffer)
        if ended:
            send.close()
        else:
            self._subscribers.append(send)
        return receive

    def emit(self, kind: type[E], generation: int, **fields: Any) -> None:
        """Deliver ``kind(generation=..., at=trio.current_time(), **fields)``."""
        if not self._subscribers and self._on_event is None:
            return
        event = kind(generation=generation, at=trio.current_time(), **fields)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                logger.exception("on_event callback raised; the session goes on")
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.remove(channel)

    def close(self) -> None:
        """End every subscriber's channel (after the final ``Closed`` event)."""
        for channel in self._subscribers:
            channel.close()
        self._subscribers.clear()
