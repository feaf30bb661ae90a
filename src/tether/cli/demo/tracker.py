"""The session's progress as ``tether demo`` sees it: :class:`Tracker` consumes
``session.events()``, reports each event, counts reconnect causes and backoff errors,
and lets the fault schedule wait until a generation is lost or a new one is open.
"""

from __future__ import annotations

from collections import Counter

import trio

from tether.events import BackingOff, Closed, Connected, ConnectionLost, Event

from .._format import error_kind
from .report import Reporter

__all__ = ["Tracker"]


class Tracker:
    """Consumes ``session.events()``: prints each event, counts reconnect causes and
    backoff errors, and lets the fault schedule wait for the session's progress."""

    def __init__(self, reporter: Reporter, origin: float, generation: int) -> None:
        self._reporter = reporter
        self._origin = origin
        self.open_generation = generation
        self.lost_generations: set[int] = set()
        self.causes: Counter[str] = Counter()
        self.backoffs: Counter[str] = Counter()
        self.closed = trio.Event()
        self._changed = trio.Event()

    def since(self, at: float) -> float:
        """Seconds from the start of the demo to trio time ``at``."""
        return at - self._origin

    async def consume(self, events: trio.abc.ReceiveChannel[Event]) -> None:
        """Handle events until the channel ends (after ``Closed``)."""
        async with events:
            async for event in events:
                self.handle(event)
        self.closed.set()

    def handle(self, event: Event) -> None:
        """Print one event and update the counters."""
        self._reporter.event(self.since(event.at), event)
        if isinstance(event, Connected):
            self.open_generation = event.generation
        elif isinstance(event, ConnectionLost):
            self.lost_generations.add(event.generation)
            self.causes[event.reason.value] += 1
        elif isinstance(event, BackingOff):
            self.backoffs[error_kind(event.error)] += 1
        elif isinstance(event, Closed):
            self.closed.set()
        self._changed.set()
        self._changed = trio.Event()

    async def wait_open_after(self, generation: int) -> None:
        """Wait until a generation newer than ``generation`` is open."""
        while self.open_generation <= generation:
            await self._changed.wait()

    async def wait_lost(self, generation: int) -> None:
        """Wait until ``generation`` has been reported lost."""
        while generation not in self.lost_generations:
            await self._changed.wait()
