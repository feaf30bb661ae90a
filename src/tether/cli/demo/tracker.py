"""The session's progress as ``tether demo`` sees it: :class:`Tracker` is the session's
``on_event`` callback; it reports each event as it happens, labelled with the generation
it is about and numbered by attempt within that generation, counts reconnect causes and
backoff errors, and lets the fault schedule wait until a generation is lost or a new
one is open.
"""

from __future__ import annotations

from collections import Counter

import trio

from tether.events import BackingOff, Closed, Connected, Connecting, ConnectionLost, Event

from .._format import error_kind
from .report import Reporter

__all__ = ["Tracker"]


class Tracker:
    """The session's ``on_event`` callback (``tether.connect(..., on_event=tracker.handle)``):
    it sees every event, generation 1's ``Connecting`` and ``Connected`` included, at
    the moment it is emitted, so the lines it reports are in time order with the faults
    and notes (which are timed when they are reported).

    Each event is reported with two numbers of the demo's own (the legend in
    :mod:`.report` says what they mean):

    * the generation it is *about*: ``Connecting`` and ``Connected`` the generation being
      opened, ``ConnectionLost`` the generation lost, ``BackingOff`` the generation whose
      loss or failed attempt it follows (the lost one right after a ``ConnectionLost``,
      the one being opened after a ``Connecting``); any other event its own.
    * the attempt within the generation being opened, from 1: the session's own count
      (``Connecting.attempt``) runs across an outage, until a connection stays open for
      ``Backoff.stable_after``, so it says ``attempt=7`` of a generation that opened at
      its first try. Generation 1's are the session's; for a later one, the first
      attempt-bearing event after a ``Connected`` or a ``ConnectionLost`` (a
      ``BackingOff``, for the attempt it waits for, or a ``Connecting``) fixes the
      offset between the two counts, so an attempt without a ``Connecting`` (a ``url``
      callable that failed) still counts.
    """

    def __init__(self, reporter: Reporter, origin: float) -> None:
        self._reporter = reporter
        self._origin = origin
        self.open_generation = 0
        self.lost_generations: set[int] = set()
        self.causes: Counter[str] = Counter()
        self.backoffs: Counter[str] = Counter()
        self.closed = trio.Event()
        #: The first exception the reporting raised (``on_event`` must not raise: the
        #: session would only log it); the runner raises it after the run.
        self.error: Exception | None = None
        self._changed = trio.Event()
        self._about = 0
        # The session's attempt number minus ours; generation 1's are the same; None
        # after a Connected or ConnectionLost until the next attempt-bearing event.
        self._attempt_offset: int | None = 0

    def since(self, at: float) -> float:
        """Seconds from the start of the demo to trio time ``at``."""
        return at - self._origin

    def handle(self, event: Event) -> None:
        """Report one event and update the counters (the ``on_event`` callback)."""
        try:
            about, attempt = self.narrate(event)
            self._reporter.event(self.since(event.at), event, generation=about, attempt=attempt)
        except Exception as exc:
            if self.error is None:
                self.error = exc
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

    def narrate(self, event: Event) -> tuple[int, int | None]:
        """``(generation the event is about, attempt within its generation)`` for
        ``event``, the next one of the session; the attempt is ``None`` for an event
        without one. See the class docstring for the rules."""
        if isinstance(event, (Connecting, BackingOff)):
            if self._attempt_offset is None:
                self._attempt_offset = event.attempt - 1
            attempt = event.attempt - self._attempt_offset
            if isinstance(event, Connecting):
                self._about = event.generation
            return self._about or event.generation, attempt
        if isinstance(event, Connected):
            offset = self._attempt_offset if self._attempt_offset is not None else event.attempt - 1
            self._about, self._attempt_offset = event.generation, None
            return event.generation, event.attempt - offset
        if isinstance(event, ConnectionLost):
            self._about, self._attempt_offset = event.generation, None
        return event.generation, None

    async def wait_open_after(self, generation: int) -> None:
        """Wait until a generation newer than ``generation`` is open."""
        while self.open_generation <= generation:
            await self._changed.wait()

    async def wait_lost(self, generation: int) -> None:
        """Wait until ``generation`` has been reported lost."""
        while generation not in self.lost_generations:
            await self._changed.wait()
