"""The words of ``tether demo``: one line per session event (:func:`format_event`), the
run's outcome (:class:`Summary`), the legend that explains both (:data:`LINE_LEGEND`,
:data:`LEGEND`, :func:`legend_lines`: printed after the summary and in ``tether demo
--help``), and the :class:`Reporter` everything the demo prints goes through (plain
lines; :class:`RichReporter` adds colour; the live terminal view is
:class:`tether.cli.demo.live_view.LiveReporter`).
"""

from __future__ import annotations

import textwrap
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
from .counts import Counts

if TYPE_CHECKING:
    import tether

#: Columns of a summary row's label (with its colon) and of the legend's terms.
LABEL_WIDTH = 19

__all__ = [
    "LABEL_WIDTH",
    "LEGEND",
    "LINE_LEGEND",
    "Reporter",
    "RichReporter",
    "Summary",
    "counts",
    "event_line",
    "format_event",
    "legend_lines",
    "summary_line",
]


def format_event(event: Event, attempt: int | None = None) -> str:
    """One line for a session event (without its time and generation).

    ``attempt``: the attempt within the generation being opened, from 1, as the demo
    counts it (:class:`~.tracker.Tracker`); by default the event's own, the session's
    count, which runs across an outage. A ``BackingOff`` names the attempt it waits for
    and that attempt's generation: ``for gen 3 attempt=2``.
    """
    if isinstance(event, Connecting):
        return f"Connecting      attempt={_attempt(event, attempt)} url={event.url}"
    if isinstance(event, Connected):
        return f"Connected       attempt={_attempt(event, attempt)} url={event.url}"
    if isinstance(event, ConnectionLost):
        return (
            f"ConnectionLost  reason={event.reason.value} code={event.code} detail={event.detail!r}"
        )
    if isinstance(event, BackingOff):
        return (
            f"BackingOff      for gen {event.generation} attempt={_attempt(event, attempt)} "
            f"delay={event.delay:.3f}s error={describe_error(event.error)}"
        )
    if isinstance(event, GaveUp):
        return f"GaveUp          error={describe_error(event.error)}"
    if isinstance(event, Closed):
        return f"Closed          code={event.code} reason={event.reason!r}"
    if isinstance(event, MessagesDropped):
        return f"MessagesDropped count={event.count}"
    return repr(event)


def event_line(
    at: float, event: Event, *, generation: int | None = None, attempt: int | None = None
) -> str:
    """The whole line of a session event ``at`` seconds into the run: time, the
    generation it is about (default: the event's own) and :func:`format_event`."""
    label = event.generation if generation is None else generation
    return f"[{at:7.3f}] gen {label:<3} {format_event(event, attempt)}"


def _attempt(event: Connecting | Connected | BackingOff, attempt: int | None) -> int:
    return event.attempt if attempt is None else attempt


def counts(counter: Mapping[str, int]) -> str:
    """``"key: value, ..."`` in key order."""
    return ", ".join(f"{key}: {value}" for key, value in sorted(counter.items()))


def summary_line(label: str, value: str) -> str:
    """One row of the plain summary: ``"  label:   value"``, the values aligned."""
    return f"  {label + ':':<{LABEL_WIDTH}} {value}"


@attrs.frozen(kw_only=True)
class Summary:
    """The outcome of one demo run. Times in seconds; ``messages`` counts messages
    (:class:`~.counts.Counts`): ``lost`` those handed to ``send()`` whose echo never
    came back, ``never_returned`` those of them whose ``send()`` never returned."""

    duration: float
    generations: int
    reconnects: int
    downtime: float
    causes: Mapping[str, int]
    backoffs: Mapping[str, int]
    faults: Sequence[str]
    messages: Counts
    error: str | None

    @property
    def ok(self) -> bool:
        """True when every message came back once and in order (nothing lost, no gap,
        none repeated or out of order) and the session did not fail."""
        m = self.messages
        return not (m.lost or m.gaps or m.repeated or m.out_of_order) and self.error is None

    def lines(self) -> list[tuple[str, str]]:
        """``(label, value)`` rows of the summary, in display order."""
        m = self.messages
        reconnects = f"{self.reconnects}"
        if self.causes:
            reconnects += f" ({counts(self.causes)})"
        backoffs = f"{sum(self.backoffs.values())}"
        if self.backoffs:
            backoffs += f" ({counts(self.backoffs)})"
        echoed = f"{m.echoed} unique"
        if m.repeated:
            echoed += f" ({m.repeated} more than once)"
        lost = f"{m.lost}"
        if m.never_returned:
            lost += f" ({m.never_returned} never returned from send())"
        return [
            ("duration", f"{self.duration:.2f} s"),
            ("generations", f"{self.generations}"),
            ("reconnects", reconnects),
            ("downtime", f"{self.downtime:.2f} s"),
            ("backoffs", backoffs),
            ("faults", f"{len(self.faults)} ({', '.join(self.faults)})"),
            ("messages sent", f"{m.sent}"),
            ("acknowledged", f"{m.acknowledged}"),
            ("received", f"{m.received} by the server, each once"),
            ("echoed", echoed),
            ("resent", f"{m.resent}"),
            (
                "duplicates dropped",
                f"{m.duplicates_dropped} ({m.server_duplicates} by the server, "
                f"{m.client_duplicates} by the client)",
            ),
            ("gaps", f"{m.gaps}"),
            ("lost", lost),
            ("out of order", f"{m.out_of_order}"),
            ("unexpected", f"{m.unexpected}"),
            ("session error", self.error or "none"),
            ("result", "OK" if self.ok else "FAILED"),
        ]


#: What the parts of the demo's lines and header mean: ``(term, meaning)``, in the
#: order they appear.
LINE_LEGEND: Sequence[tuple[str, str]] = (
    ("[  t.ttt]", "seconds since the demo started; every line is in time order"),
    (
        "schedule:",
        "when each fault fires, in seconds, within the tolerance the header states; "
        "faults are spread over --duration, but each at least the worst-case recovery "
        "of the one before it (its detection, backoff delays at Backoff.maximum, "
        "Retry-After) plus some traffic later, so that it finds the session open: a "
        "short --duration runs longer. A fault that fires late anyway says so in a "
        "WARNING note",
    ),
    (
        "gen N",
        "the connection generation the event is about: Connecting and Connected the "
        "generation being opened, ConnectionLost the generation lost, BackingOff the "
        "generation whose loss or failed connect attempt it follows (right after a "
        "ConnectionLost, the lost generation), Closed the last one",
    ),
    (
        "attempt=K",
        "the connect attempt within the generation being opened, from 1 (Connected "
        "attempt=1: it opened at its first try); the session's own count "
        "(Connecting.attempt) runs across an outage until a connection stays open for "
        "Backoff.stable_after",
    ),
    (
        "BackingOff",
        "the session waits delay= before its next attempt, named by 'for gen M "
        "attempt=K'; error= is what ended the last try or the lost connection",
    ),
    ("FAULT", "what the demo did to the proxy or the server, as it did it"),
    (
        "note",
        "anything else: what a reconnect resumed and resent (tether.delivery), a phase "
        "of the run, a warning",
    ),
)

#: What each field of the summary means, by its label (:meth:`Summary.lines`).
LEGEND: Sequence[tuple[str, str]] = (
    ("duration", "seconds from the start to the end of the session (after the drain)"),
    ("generations", "connections the session opened; each reconnect opens the next"),
    (
        "reconnects",
        "connections lost (ConnectionLost events), by reason: transport_error (reset or "
        "ended without a Close frame), peer_closed (the server sent a Close frame), "
        "ping_timeout (no pong in time: a half-open link)",
    ),
    ("downtime", "seconds without an open connection, after the first one opened"),
    (
        "backoffs",
        "waits before a connect attempt (BackingOff events), by the error of the try "
        "before: ConnectionLostError a lost connection, ConnectionRefusedError the proxy "
        "was down, HandshakeRejected(503) the server refused the upgrade",
    ),
    ("faults", "faults injected, in the order they fired"),
    (
        "messages sent",
        '{"id": n, "text": "msg-<n>"} the application handed to delivery.send(), one every 20 ms',
    ),
    (
        "acknowledged",
        'messages the server acknowledged ({"ack": [n]}); until then the delivery layer '
        "keeps each one to write it again (0 with --no-replay: no ids are tracked)",
    ),
    (
        "received",
        "distinct messages the server's application got: it takes each id once",
    ),
    (
        "echoed",
        "distinct messages whose echo (numbered by the server, reply_to: n) reached the "
        "application; in parentheses those that reached it more than once",
    ),
    (
        "resent",
        "writes of a message after a reconnect by tether.delivery, because its "
        "acknowledgement had not come: after the resume message, oldest first, before "
        "anything newer (0 with --no-replay)",
    ),
    (
        "duplicates dropped",
        "copies dropped before any application saw them: by the server, a resent "
        "message it had received already (by id); by the client, a replayed echo it "
        "had seen already (by sequence number)",
    ),
    (
        "gaps",
        "SequenceGap events: echoes the server numbered that never came, even after a "
        "resume; anything but 0 fails the run",
    ),
    (
        "lost",
        "messages whose echo never came back, in parentheses those whose send() never "
        "returned; anything but 0 fails the run",
    ),
    (
        "out of order",
        "first echoes of a message numbered lower than one echoed before; anything but "
        "0 fails the run",
    ),
    (
        "unexpected",
        "received messages that are not the echo of a msg-<n> (the server sends nothing "
        "else, so 0)",
    ),
    ("session error", "the error the session ended with, or none"),
    (
        "result",
        "OK (exit status 0): every message echoed once and in order, nothing lost, no "
        "gap, no session error; FAILED (exit status 1) otherwise",
    ),
)


def legend_lines(width: int = 88) -> list[str]:
    """The legend of the demo's output (:data:`LINE_LEGEND`, then :data:`LEGEND`),
    wrapped to ``width`` columns."""
    lines = ["legend"]
    for title, entries, term_width in (
        ("lines", LINE_LEGEND, 11),
        ("summary", LEGEND, LABEL_WIDTH),
    ):
        lines.append(f"  {title}:")
        for term, meaning in entries:
            indent = " " * (4 + term_width + 1)
            lines += textwrap.wrap(
                meaning,
                width=width,
                initial_indent=f"    {term:<{term_width}} ",
                subsequent_indent=indent,
                break_on_hyphens=False,
            )
    return lines


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

    def event(
        self, at: float, event: Event, *, generation: int | None = None, attempt: int | None = None
    ) -> None:
        """A session event, ``at`` seconds into the run; ``generation`` is the one it is
        about and ``attempt`` the attempt within the generation being opened, as the
        :class:`~.tracker.Tracker` counts them (by default the event's own numbers)."""
        kind = type(event).__name__
        self._emit(event_line(at, event, generation=generation, attempt=attempt), kind)

    def fault(self, at: float, text: str) -> None:
        """A fault the demo injected (or undid)."""
        self._emit(f"[{at:7.3f}] FAULT   {text}", "fault")

    def note(self, at: float, text: str) -> None:
        """Anything else worth a line: resumes and resends, warnings, phases."""
        self._emit(f"[{at:7.3f}] note    {text}", "note")

    def summary(self, summary: Summary) -> None:
        """The final summary, one ``label: value`` line per row, then the legend."""
        self._emit("summary", "header")
        for label, value in summary.lines():
            self._emit(summary_line(label, value), "summary")
        for line in legend_lines():
            self._emit(line, "legend")

    async def live(
        self, session: tether.Session, counts: Callable[[], Counts], origin: float
    ) -> None:
        """Hook for a live view, run while the session is open until cancelled
        (``counts()``: the message counters now; ``origin``: trio time of the start).
        Line reporters need nothing here."""

    def close(self) -> None:
        """Release the output (a live view stops redrawing); called once at the end."""


class RichReporter(Reporter):
    """:class:`Reporter` with colours, through rich (only used on a terminal)."""

    _STYLES: Mapping[str, str] = {
        "header": "bold",
        "fault": "bold red",
        "note": "dim",
        "legend": "dim",
        **EVENT_STYLES,
    }

    def __init__(self) -> None:
        from rich.console import Console

        super().__init__()
        self._console = Console(highlight=False, soft_wrap=True)

    def _emit(self, line: str, kind: str) -> None:
        from rich.text import Text

        self._console.print(Text(line, style=self._STYLES.get(kind, "")))
