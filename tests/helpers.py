"""Shared test helpers: an event recorder usable as ``connect(on_event=...)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

from tether import events

E = TypeVar("E", bound=events.Event)


class EventLog:
    """Records every event of a session, from the first ``Connecting`` on.

    Pass ``on_event=log`` to ``tether.connect``; query with :meth:`of`; wait with
    :meth:`wait_for` (wakes on each new event, so it never polls).
    """

    def __init__(self) -> None:
        self.items: list[events.Event] = []
        self._lot = trio.lowlevel.ParkingLot()

    def __call__(self, event: events.Event) -> None:
        self.items.append(event)
        self._lot.unpark_all()

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.items if isinstance(event, kind)]

    def kinds(self) -> list[str]:
        return [type(event).__name__ for event in self.items]

    async def wait_for(self, predicate: Callable[[list[events.Event]], bool]) -> None:
        while not predicate(self.items):
            await self._lot.park()

    async def wait_count(self, kind: type[events.Event], count: int) -> E:  # type: ignore[type-var]
        await self.wait_for(lambda items: sum(isinstance(e, kind) for e in items) >= count)
        return self.of(kind)[count - 1]  # type: ignore[return-value]
