"""The live terminal view of ``tether demo`` (rich), used when stdout is a terminal.

:class:`LiveReporter` replaces the demo's line :class:`~.report.Reporter`: instead
of one line per event it keeps a model of the run (:class:`ViewModel`) and redraws one
panel several times a second:

* the session now: state, generation, last ping round trip, elapsed and down time;
* the message counters: sent, acknowledged, echoed, in flight, and lost once the run
  has drained (until then an unechoed message is only in flight); what the delivery
  layer resent, the duplicates dropped (the server's and the client's) and the gaps;
* a timeline of generations: one row per generation on a shared time axis, ``░`` while
  the session was reconnecting before it, ``█`` while it was open, and how it ended;
* the last :data:`LOG_LINES` events, faults and notes, each with its cause.

Redrawing happens in a Trio task (:meth:`LiveReporter.live`), never in a thread, since
reading ``session.statistics()`` needs Trio; the last snapshot is kept so the final
frame can be drawn after the Trio run has ended, followed by the summary table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import trio

from tether.events import Closed, Connected, ConnectionLost, Event

from .._format import EVENT_STYLES
from .counts import Counts
from .report import Reporter, Summary, event_line, legend_lines

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console, RenderableType
    from rich.live import Live

    import tether

__all__ = ["LOG_LINES", "LiveReporter", "Segment", "Snapshot", "ViewModel", "render"]

#: Events, faults and notes shown in the rolling log.
LOG_LINES = 10
#: Generations shown in the timeline (the most recent).
TIMELINE_ROWS = 8
#: Columns of the timeline's time axis.
TIMELINE_WIDTH = 56
#: Seconds between two redraws.
REFRESH_INTERVAL = 0.1

_STYLES: Mapping[str, str] = {"fault": "bold red", "note": "dim", **EVENT_STYLES}
_STATE_STYLES: Mapping[str, str] = {
    "open": "bold green",
    "connecting": "bold cyan",
    "backing_off": "bold magenta",
    "closing": "bold blue",
    "closed": "bold blue",
}


@attrs.frozen(kw_only=True)
class Snapshot:
    """The numbers of one frame, read in Trio. Seconds; ``None`` when unknown;
    ``messages``: the message counters (:class:`~.counts.Counts`)."""

    state: str = "connecting"
    generation: int = 0
    last_rtt: float | None = None
    elapsed: float = 0.0
    downtime: float = 0.0
    messages: Counts = attrs.field(factory=Counts)


@attrs.define
class Segment:
    """One generation on the timeline: reconnecting from ``down_from``, open from
    ``opened`` to ``ended`` (``None``: still open), and how it ended."""

    generation: int
    down_from: float
    opened: float
    ended: float | None = None
    outcome: str = "open"


@attrs.define
class ViewModel:
    """Everything the live view shows, updated by the reporter's calls."""

    headers: list[str] = attrs.field(factory=list)
    log: deque[tuple[str, str]] = attrs.field(factory=lambda: deque(maxlen=LOG_LINES))
    segments: list[Segment] = attrs.field(factory=list)
    down_since: float = 0.0
    snapshot: Snapshot = attrs.field(factory=Snapshot)
    summary: Summary | None = None
    span: float = 0.0

    def add_event(
        self, at: float, event: Event, *, generation: int | None = None, attempt: int | None = None
    ) -> None:
        """Log an event and move the timeline (``at``: seconds since the start;
        ``generation`` and ``attempt`` as :meth:`.report.Reporter.event` takes them)."""
        line = event_line(at, event, generation=generation, attempt=attempt)
        self.log.append((line, type(event).__name__))
        if isinstance(event, Connected):
            self.segments.append(Segment(event.generation, self.down_since, at))
        elif isinstance(event, ConnectionLost):
            code = f" {event.code}" if event.code is not None else ""
            self._end(at, f"{event.reason.value}{code}")
            self.down_since = at
        elif isinstance(event, Closed):
            self._end(at, "closed")

    def _end(self, at: float, outcome: str) -> None:
        if self.segments and self.segments[-1].ended is None:
            self.segments[-1].ended = at
            self.segments[-1].outcome = outcome


# ----------------------------------------------------------------------- rendering


def _seconds(value: float | None, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f} {unit}"


def _cells(cells: list[tuple[str, str, str]]) -> Any:
    """One row of ``label value`` cells, each value padded to a fixed width."""
    from rich.text import Text

    row = Text()
    for label, value, style in cells:
        row.append(f"{label} ", style="bold")
        row.append(f"{value:<10}", style=style)
        row.append("  ")
    return row


def _stats(snapshot: Snapshot, summary: Summary | None) -> RenderableType:
    from rich.console import Group

    lost, lost_style = "-", "dim"
    if summary is not None:
        count = summary.messages.lost
        lost, lost_style = str(count), "bold green" if count == 0 else "bold red"
    session = _cells(
        [
            ("state", snapshot.state.upper(), _STATE_STYLES.get(snapshot.state, "bold")),
            ("generation", str(snapshot.generation), "bold"),
            ("last RTT", _seconds(snapshot.last_rtt, "ms", 1000.0), ""),
            ("elapsed", _seconds(snapshot.elapsed, digits=1), ""),
            ("downtime", _seconds(snapshot.downtime), ""),
        ]
    )
    m = snapshot.messages
    counters = _cells(
        [
            ("sent", str(m.sent), ""),
            ("acked", str(m.acknowledged), ""),
            ("echoed", str(m.echoed), ""),
            ("in flight", str(m.lost), ""),
            ("lost", lost, lost_style),
        ]
    )
    gaps_style = "bold red" if m.gaps else ""
    delivery = _cells(
        [
            ("resent", str(m.resent), ""),
            ("duplicates dropped", str(m.duplicates_dropped), ""),
            ("gaps", str(m.gaps), gaps_style),
        ]
    )
    return Group(session, counters, delivery)


def _bar(segment: Segment, now: float, span: float) -> Any:
    from rich.text import Text

    def column(at: float) -> int:
        return min(TIMELINE_WIDTH, round(at / span * TIMELINE_WIDTH)) if span > 0 else 0

    start, opened = column(segment.down_from), column(segment.opened)
    ended = column(now if segment.ended is None else segment.ended)
    bar = Text(" " * start)
    bar.append("░" * (opened - start), style="red")
    style = "green" if segment.ended is None else "yellow"
    bar.append("█" * max(1, ended - opened), style=style)
    bar.append(" " * max(0, TIMELINE_WIDTH - max(ended, opened + 1)))
    return bar


def _timeline(model: ViewModel) -> RenderableType:
    from rich.table import Table

    now = model.snapshot.elapsed
    span = max(model.span, now, 1e-9)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", style="bold")
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right")
    grid.add_column(no_wrap=True)
    for segment in model.segments[-TIMELINE_ROWS:]:
        end = now if segment.ended is None else segment.ended
        outcome = "open" if segment.ended is None else segment.outcome
        grid.add_row(
            f"g{segment.generation}",
            _bar(segment, now, span),
            _seconds(end - segment.opened),
            outcome,
        )
    return grid


def _log(model: ViewModel) -> RenderableType:
    from rich.console import Group
    from rich.text import Text

    lines = [
        Text(text, style=_STYLES.get(kind, ""), no_wrap=True, overflow="ellipsis")
        for text, kind in model.log
    ]
    return Group(*lines) if lines else Text("(no events yet)", style="dim")


def render(model: ViewModel) -> RenderableType:
    """The live view's panel for ``model``."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.rule import Rule
    from rich.text import Text

    parts: list[RenderableType] = [
        Text(line, style="dim", overflow="ellipsis", no_wrap=True) for line in model.headers
    ]
    parts += [
        Text(""),
        _stats(model.snapshot, model.summary),
        Rule("generations (░ reconnecting, █ open)", style="dim"),
        _timeline(model),
        Rule(f"last {LOG_LINES} events", style="dim"),
        _log(model),
    ]
    return Panel(Group(*parts), title="[bold]tether demo[/]", border_style="blue")


def _summary_table(summary: Summary) -> RenderableType:
    from rich.table import Table

    table = Table(title="summary", show_header=False, title_justify="left", box=None)
    table.add_column(style="bold", justify="right")
    table.add_column()
    for label, value in summary.lines():
        style = ""
        if label == "result":
            style = "bold green" if summary.ok else "bold red"
        table.add_row(label, value, style=style)
    return table


# ------------------------------------------------------------------------ reporter


class LiveReporter(Reporter):
    """The demo's reporter for a terminal: a rich ``Live`` panel, redrawn by
    :meth:`live` every :data:`REFRESH_INTERVAL` seconds, then the summary."""

    def __init__(self, console: Console | None = None, *, span: float = 0.0) -> None:
        from rich.console import Console

        super().__init__()
        self._console = console or Console()
        self.model = ViewModel(span=span)
        self._live: Live | None = None

    def header(self, text: str) -> None:
        self.model.headers.append(text)

    def event(
        self, at: float, event: Event, *, generation: int | None = None, attempt: int | None = None
    ) -> None:
        self.model.add_event(at, event, generation=generation, attempt=attempt)

    def fault(self, at: float, text: str) -> None:
        self.model.log.append((f"[{at:7.3f}] FAULT   {text}", "fault"))

    def note(self, at: float, text: str) -> None:
        self.model.log.append((f"[{at:7.3f}] note    {text}", "note"))

    async def live(
        self, session: tether.Session, counts: Callable[[], Counts], origin: float
    ) -> None:
        """Redraw until cancelled; the last frame stays on screen."""
        from rich.live import Live

        self._live = Live(
            render(self.model),
            console=self._console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        try:
            while True:
                self._refresh(session, counts, origin)
                await trio.sleep(REFRESH_INTERVAL)
        finally:
            self._refresh(session, counts, origin)

    def _refresh(
        self, session: tether.Session, counts: Callable[[], Counts], origin: float
    ) -> None:
        stats = session.statistics()
        self.model.snapshot = Snapshot(
            state=stats.state.value,
            generation=stats.generation,
            last_rtt=stats.last_rtt,
            elapsed=trio.current_time() - origin,
            downtime=stats.downtime,
            messages=counts(),
        )
        if self._live is not None:
            self._live.update(render(self.model), refresh=True)

    def summary(self, summary: Summary) -> None:
        """Draw the final frame (with the lost count) and print the summary below it,
        then the legend."""
        self.model.summary = summary
        if self._live is not None:
            self._live.update(render(self.model), refresh=True)
            self.close()
        else:
            self._console.print(render(self.model))
        self._console.print(_summary_table(summary))
        from rich.text import Text

        for line in legend_lines(max(40, min(self._console.width, 100))):
            self._console.print(Text(line, style="dim"), soft_wrap=True)

    def close(self) -> None:
        """Stop redrawing (the last frame stays); idempotent."""
        if self._live is not None:
            self._live.stop()
            self._live = None
