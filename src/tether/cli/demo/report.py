"""The words of ``tether demo``: one line per session event (:func:`format_event`), the
run's outcome (:class:`Summary`), and the :class:`Reporter` everything the demo prints
goes through (plain lines; :class:`RichReporter` adds colour; the live terminal view is
:class:`tether.cli.demo.live_view.LiveReporter`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from tether.events import (
    BackingOff,
    Closed,
    Connected,
    Connecting,
    ConnectionLost,
    Event,
    GaveUp,
    MessagesDropped,
)

from .._format import EVENT_STYLES, describe_error

if TYPE_CHECKING:
    import tether

    from .ledger import Ledger

__all__ = ["Reporter", "RichReporter", "Summary", "counts", "format_event"]


def format_event(event: Event) -> str:
    """One line for a session event (without its time and generation)."""
    if isinstance(event, Connecting):
        return f"Connecting      attempt={event.attempt} url={event.url}"
    if isinstance(event, Connected):
        return f"Connected       attempt={event.attempt} url={event.url}"
    if isinstance(event, ConnectionLost):
        return (
            f"ConnectionLost  reason={event.reason.value} code={event.code} detail={event.detail!r}"
        )
    if isinstance(event, BackingOff):
        return (
            f"BackingOff      attempt={event.attempt} delay={event.delay:.3f}s "
            f"error={describe_error(event.error)}"
        )
    if isinstance(event, GaveUp):
        return f"GaveUp          error={describe_error(event.error)}"
    if isinstance(event, Closed):
        return f"Closed          code={event.code} reason={event.reason!r}"
    if isinstance(event, MessagesDropped):
        return f"MessagesDropped count={event.count}"
    return repr(event)


def counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in sorted(counter.items()))


@attrs.frozen(kw_only=True)
class Summary:
    """The outcome of one demo run. Times in seconds; counts of messages by number.

    ``lost`` counts messages handed to ``send()`` whose echo never came back, and
    ``never_returned`` those of them whose ``send()`` never returned (the session stopped
    writing: counted by what was submitted, not by what ``send()`` confirmed);
    ``duplicates`` counts echoes of a number seen before (at-least-once delivery);
    ``out_of_order`` counts first echoes of a number lower than one already seen.
    """

    duration: float
    generations: int
    reconnects: int
    downtime: float
    causes: Mapping[str, int]
    backoffs: Mapping[str, int]
    faults: Sequence[str]
    sent: int
    echoed: int
    duplicates: int
    replayed: int
    lost: int
    never_returned: int = 0
    out_of_order: int
    unexpected: int
    error: str | None

    @property
    def ok(self) -> bool:
        """True when no message was lost and the session did not fail."""
        return self.lost == 0 and self.error is None

    def lines(self) -> list[tuple[str, str]]:
        """``(label, value)`` rows of the summary, in display order."""
        reconnects = f"{self.reconnects}"
        if self.causes:
            reconnects += f" ({counts(self.causes)})"
        backoffs = f"{sum(self.backoffs.values())}"
        if self.backoffs:
            backoffs += f" ({counts(self.backoffs)})"
        lost = f"{self.lost}"
        if self.never_returned:
            lost += f" ({self.never_returned} never returned from send())"
        return [
            ("duration", f"{self.duration:.2f} s"),
            ("generations", f"{self.generations}"),
            ("reconnects", reconnects),
            ("downtime", f"{self.downtime:.2f} s"),
            ("backoffs", backoffs),
            ("faults", f"{len(self.faults)} ({', '.join(self.faults)})"),
            ("messages sent", f"{self.sent}"),
            ("echoed", f"{self.echoed} unique"),
            ("duplicates", f"{self.duplicates}"),
            ("replayed", f"{self.replayed}"),
            ("lost", lost),
            ("out of order", f"{self.out_of_order}"),
            ("unexpected", f"{self.unexpected}"),
            ("session error", self.error or "none"),
            ("result", "OK" if self.ok else "FAILED"),
        ]


class Reporter:
    """Everything the demo prints goes through here: plain lines, one per call.

    Times are seconds since the demo started. Subclass (or replace) it for another
    view; :class:`RichReporter` only adds colour.
    """

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or self._print

    @staticmethod
    def _print(line: str) -> None:
        print(line, flush=True)

    def _emit(self, line: str, kind: str) -> None:
        self._write(line)

    def header(self, text: str) -> None:
        """A line of context before the run starts."""
        self._emit(text, "header")

    def event(self, at: float, event: Event) -> None:
        """A session event, ``at`` seconds into the run."""
        kind = type(event).__name__
        self._emit(f"[{at:7.3f}] gen {event.generation:<3} {format_event(event)}", kind)

    def fault(self, at: float, text: str) -> None:
        """A fault the demo injected (or undid)."""
        self._emit(f"[{at:7.3f}] FAULT   {text}", "fault")

    def note(self, at: float, text: str) -> None:
        """Anything else worth a line: replays, warnings, phases."""
        self._emit(f"[{at:7.3f}] note    {text}", "note")

    def summary(self, summary: Summary) -> None:
        """The final summary, one ``label: value`` line per row."""
        self._emit("summary", "header")
        for label, value in summary.lines():
            self._emit(f"  {label + ':':<15} {value}", "summary")

    async def live(self, session: tether.Session, ledger: Ledger, origin: float) -> None:
        """Hook for a live view, run while the session is open until cancelled
        (``origin``: trio time of the start). Line reporters need nothing here."""

    def close(self) -> None:
        """Release the output (a live view stops redrawing); called once at the end."""


class RichReporter(Reporter):
    """:class:`Reporter` with colours, through rich (only used on a terminal)."""

    _STYLES: Mapping[str, str] = {
        "header": "bold",
        "fault": "bold red",
        "note": "dim",
        **EVENT_STYLES,
    }

    def __init__(self) -> None:
        from rich.console import Console

        super().__init__()
        self._console = Console(highlight=False, soft_wrap=True)

    def _emit(self, line: str, kind: str) -> None:
        from rich.text import Text

        self._console.print(Text(line, style=self._STYLES.get(kind, "")))
