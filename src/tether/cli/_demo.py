"""``tether demo``: one session through a scripted storm of network faults.

What runs, all in one process on 127.0.0.1:

* an embedded WebSocket echo server (trio-websocket) that echoes every message in
  order, and can, on command, close its connections with a code (1001 "going away")
  or reject the next handshakes with ``503`` and ``Retry-After: 1``;
* a :class:`tether.testing.ChaosProxy` in front of it, which can reset connections,
  stall them (a half-open link), or stop listening (connects refused);
* a ``tether`` session to the proxy: a sender writes ``msg-<n>`` every 20 ms with
  ``await session.send()``, a receiver reads the echoes with ``await session.receive()``,
  and every session event is printed as it happens;
* a fault schedule, spread over ``--duration`` seconds, one fault at a time: each waits
  until the session has reconnected from the previous one.

The application replays, in ``on_connect``, every message it sent whose echo it has
not seen (the echo is its acknowledgement). A WebSocket client cannot know whether
bytes it wrote before a link died ever reached the server: a stalled link swallows
every message written during the ping timeout, a reset loses what was in flight. The
session guarantees each message is *written*; knowing it was *processed* takes an
acknowledgement, which is the application's layer. ``--no-replay`` shows the loss.

At the end the demo stops sending, waits up to 5 s for the outstanding echoes, closes
the session and prints a summary. Exit status 0, or 1 if a message was lost or the
session failed.

All output goes through one :class:`Reporter`: plain lines (``--plain``, and whenever
stdout is not a terminal), coloured lines (``--rich``), or, on a terminal, the live view
of :mod:`tether.cli._view` (``--live``), which redraws a panel with the session's state,
counters, a timeline of generations and the last events.
"""

from __future__ import annotations

import random
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

import tether
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
from tether.testing import ChaosProxy

from ._format import EVENT_STYLES, describe_error, error_kind
from ._run import EXIT_INTERRUPTED, run_until_interrupted

__all__ = ["SCHEDULES", "DemoOptions", "Summary", "demo_config", "run", "run_demo"]

#: Seconds between two sends of the sender task.
SEND_INTERVAL = 0.02
#: Seconds the demo waits, after it stops sending, for outstanding echoes.
DRAIN_TIMEOUT = 5.0
#: Seconds a fault may take before the session must be open again (else a warning).
RECOVERY_TIMEOUT = 15.0
#: Seconds the proxy stays down in the "outage" fault.
OUTAGE_SECONDS = 1.5
#: Seconds of traffic, at least, between a reconnect and the next fault, and after the
#: last fault before the demo stops sending.
SETTLE_SECONDS = 0.5
#: What the server's handshake rejection carries (the "restart" fault).
REJECT_STATUS = 503
RETRY_AFTER_SECONDS = 1

_MESSAGE = re.compile(r"msg-(\d+)")


def demo_config() -> tether.Config:
    """The session configuration of the demo: fast pings, short backoff (seconds)."""
    return tether.Config(
        ping_interval=1.0,
        ping_timeout=1.0,
        backoff=tether.Backoff(initial=0.2, maximum=2.0),
        connect_timeout=3.0,
        close_timeout=2.0,
    )


@attrs.frozen(kw_only=True)
class DemoOptions:
    """Command-line options of ``tether demo``.

    Attributes:
        duration: seconds over which the fault schedule is spread (default 20); the
            demo runs longer if the faults take longer to recover from.
        seed: seeds the schedule's order and timing and the backoff jitter (default 1).
        faults: name of a schedule in :data:`SCHEDULES` (default ``"default"``).
        replay: replay unacknowledged messages in ``on_connect`` (default ``True``).
        view: ``"plain"`` lines, ``"rich"`` coloured lines, ``"live"`` a live terminal
            view (:mod:`tether.cli._view`), or ``"auto"`` (default): live when stdout is a
            terminal and rich is installed, plain otherwise.
    """

    duration: float = 20.0
    seed: int = 1
    faults: str = "default"
    replay: bool = True
    view: str = "auto"


# ---------------------------------------------------------------------------- output


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


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in sorted(counter.items()))


@attrs.frozen(kw_only=True)
class Summary:
    """The outcome of one demo run. Times in seconds; counts of messages by number.

    ``lost`` counts messages whose ``send()`` returned but whose echo never came back;
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
            reconnects += f" ({_counts(self.causes)})"
        backoffs = f"{sum(self.backoffs.values())}"
        if self.backoffs:
            backoffs += f" ({_counts(self.backoffs)})"
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
            ("lost", f"{self.lost}"),
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


def make_reporter(view: str = "auto", span: float = 0.0) -> Reporter:
    """The reporter for ``view`` (see :class:`DemoOptions`); ``span`` is the expected
    duration of the run in seconds (the live view's time axis). Without rich installed,
    every view is plain lines."""
    if view == "auto":
        view = "live" if sys.stdout.isatty() else "plain"
    try:
        if view == "live":
            from ._view import LiveReporter

            return LiveReporter(span=span)
        if view == "rich":
            return RichReporter()
    except ImportError:
        pass
    return Reporter()


# ---------------------------------------------------------------------- echo server


class EchoServer:
    """The demo's WebSocket server: echoes every message, in order, on 127.0.0.1.

    Controls (synchronous, take effect at once): :meth:`close_all` and
    :meth:`reject_next`.
    """

    def __init__(self) -> None:
        self.port = 0
        self.accepted = 0
        self.rejected = 0
        self._open = 0
        self._reject_budget = 0
        self._close_signal = trio.Event()
        self._close_with = (1001, "going away")

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``nursery.start(server.serve)`` returns the port."""
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self._handle, "127.0.0.1", 0, None)
            self.port = server.port
            task_status.started(self.port)

    def close_all(self, code: int = 1001, reason: str = "going away") -> int:
        """Close every open connection with ``code`` and ``reason`` (the handler of each
        runs the closing handshake, bounded by 2 s). Returns how many were open."""
        self._close_with = (code, reason)
        self._close_signal.set()
        self._close_signal = trio.Event()
        return self._open

    def reject_next(self, count: int = 1) -> None:
        """Reject the next ``count`` handshakes with 503 and ``Retry-After: 1``."""
        self._reject_budget += count

    async def _handle(self, request: WebSocketRequest) -> None:
        if self._reject_budget > 0:
            self._reject_budget -= 1
            self.rejected += 1
            retry_after = str(RETRY_AFTER_SECONDS).encode()
            await request.reject(REJECT_STATUS, extra_headers=[(b"Retry-After", retry_after)])
            return
        connection = await request.accept()
        self.accepted += 1
        self._open += 1
        try:
            await self._serve(connection, self._close_signal)
        finally:
            self._open -= 1

    async def _serve(self, connection: WebSocketConnection, close_signal: trio.Event) -> None:
        closing = False

        async def closer() -> None:
            nonlocal closing
            await close_signal.wait()
            closing = True
            code, reason = self._close_with
            with trio.move_on_after(2.0):
                await connection.aclose(code, reason)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(closer)
            try:
                while True:
                    await connection.send_message(await connection.get_message())
            except ConnectionClosed:
                pass
            if not closing:
                nursery.cancel_scope.cancel()


# ----------------------------------------------------------------- message ledger


class Ledger:
    """Which messages were sent and which echoes came back, by message number."""

    def __init__(self) -> None:
        self.submitted = 0
        self.written: set[int] = set()
        self.echoed: set[int] = set()
        self.duplicates = 0
        self.out_of_order = 0
        self.unexpected = 0
        self.replayed = 0
        self._highest = 0
        self._changed = trio.Event()

    def submit(self) -> int:
        """Number the next message (from 1)."""
        self.submitted += 1
        return self.submitted

    def wrote(self, number: int) -> None:
        """``send()`` returned for message ``number``: it is on the wire."""
        self.written.add(number)
        self._notify()

    def record_echo(self, message: object) -> None:
        """Account for one message received from the server."""
        match = _MESSAGE.fullmatch(message) if isinstance(message, str) else None
        if match is None:
            self.unexpected += 1
            return
        number = int(match.group(1))
        if number in self.echoed:
            self.duplicates += 1
        else:
            if number < self._highest:
                self.out_of_order += 1
            self.echoed.add(number)
            self._highest = max(self._highest, number)
        self._notify()

    def unacknowledged(self) -> list[int]:
        """Numbers written (``send()`` returned) whose echo has not arrived, ascending.

        A message still inside ``send()`` is not included: the session owns it until
        ``send()`` returns, and writes it again itself if its write was cut off."""
        return sorted(self.written - self.echoed)

    def lost(self) -> int:
        """Messages written whose echo never arrived."""
        return len(self.written - self.echoed)

    async def wait_all_echoed(self) -> None:
        """Wait until every submitted message has been written and echoed."""
        while len(self.written) < self.submitted or self.lost():
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


# ----------------------------------------------------------------- event tracking


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

    async def consume(self, events: trio.MemoryReceiveChannel[Event]) -> None:
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


# --------------------------------------------------------------------------- faults


@attrs.define
class Lab:
    """What a fault can act on and report to."""

    proxy: ChaosProxy
    server: EchoServer
    session: tether.Session
    tracker: Tracker
    reporter: Reporter

    def fault(self, text: str) -> None:
        """Report a fault line, timed now."""
        self.reporter.fault(self.tracker.since(trio.current_time()), text)

    def note(self, text: str) -> None:
        """Report a note line, timed now."""
        self.reporter.note(self.tracker.since(trio.current_time()), text)


#: A fault: does something to the proxy or the server, reports it, and returns (it may
#: wait, e.g. for the session to notice).
FaultFn = Callable[[Lab], Awaitable[None]]


async def fault_drop(lab: Lab) -> None:
    """Abrupt TCP drop: ``ConnectionLost(TRANSPORT_ERROR)``."""
    count = lab.proxy.drop()
    lab.fault(f"drop: reset {count} proxied TCP connection(s) (RST both ways)")


async def fault_going_away(lab: Lab) -> None:
    """The server closes with 1001: ``ConnectionLost(PEER_CLOSED, code=1001)``."""
    count = lab.server.close_all(1001, "going away")
    lab.fault(f"going-away: server closes {count} connection(s) with 1001 'going away'")


async def fault_stall(lab: Lab) -> None:
    """A half-open link only pings can detect: ``ConnectionLost(PING_TIMEOUT)`` after at
    most ``ping_interval + ping_timeout`` seconds; then the link is resumed."""
    generation = lab.session.generation
    config = lab.session.config
    lab.proxy.stall()
    lab.fault("stall: proxy stops forwarding both ways; TCP stays up (half-open link)")
    started = trio.current_time()
    bound = sum(t or 0.0 for t in (config.ping_interval, config.ping_timeout))
    with trio.move_on_after(bound + (config.close_timeout or 0.0) + 2.0):
        await lab.tracker.wait_lost(generation)
    lab.proxy.resume()
    waited = trio.current_time() - started
    lab.fault(f"stall: resumed forwarding after {waited:.3f} s (detection bound {bound:.1f} s)")


async def fault_restart_503(lab: Lab) -> None:
    """The server restarts: closes with 1001, then rejects the next handshake with 503
    and ``Retry-After: 1``: a ``BackingOff`` event with ``delay=1``."""
    lab.server.reject_next(1)
    count = lab.server.close_all(1001, "restarting")
    lab.fault(
        f"restart-503: server closes {count} connection(s) with 1001 and rejects the next "
        f"handshake with {REJECT_STATUS}, Retry-After: {RETRY_AFTER_SECONDS}"
    )


async def fault_outage(lab: Lab) -> None:
    """Proxy down for ``OUTAGE_SECONDS``: connections reset, connects refused
    (``BackingOff`` with ``ConnectionRefusedError``), then back on the same port."""
    lab.proxy.go_down()
    count = lab.proxy.drop()
    lab.fault(
        f"outage: proxy stops listening (connects refused) and resets {count} "
        f"connection(s), for {OUTAGE_SECONDS} s"
    )
    await trio.sleep(OUTAGE_SECONDS)
    lab.proxy.come_back()
    lab.fault(f"outage: proxy listening again on port {lab.proxy.port}")


#: Named fault schedules (``--faults``): the faults each runs, each once. ``default``
#: causes five reconnects of three causes (transport error, peer close, ping timeout),
#: a 503 with ``Retry-After`` and a burst of refused connects.
SCHEDULES: Mapping[str, Mapping[str, FaultFn]] = {
    "default": {
        "drop": fault_drop,
        "going-away": fault_going_away,
        "stall": fault_stall,
        "restart-503": fault_restart_503,
        "outage": fault_outage,
    },
    "none": {},
}


@attrs.frozen
class Step:
    """One fault of a schedule, due ``at`` seconds after the start."""

    at: float
    name: str
    inject: FaultFn


def plan(schedule: Mapping[str, FaultFn], duration: float, seed: int) -> list[Step]:
    """Spread the faults of ``schedule`` over ``duration`` seconds, in a seeded order,
    evenly spaced with a seeded jitter of up to a fifth of the spacing."""
    rng = random.Random(seed)
    names = list(schedule)
    rng.shuffle(names)
    spacing = duration / (len(names) + 1)
    steps = []
    for index, name in enumerate(names, start=1):
        jitter = rng.uniform(-0.2, 0.2) * spacing
        steps.append(Step(at=index * spacing + jitter, name=name, inject=schedule[name]))
    return steps


async def run_schedule(lab: Lab, steps: Sequence[Step], origin: float) -> None:
    """Inject each fault at its time, then wait until the session has reconnected. A
    fault due while the last one is still being recovered from waits for the reconnect
    and ``SETTLE_SECONDS`` of traffic."""
    not_before = origin
    for step in steps:
        await trio.sleep_until(max(origin + step.at, not_before))
        generation = lab.session.generation
        await step.inject(lab)
        with trio.move_on_after(RECOVERY_TIMEOUT) as scope:
            await lab.tracker.wait_open_after(generation)
        if scope.cancelled_caught:
            lab.note(f"WARNING: not reconnected {RECOVERY_TIMEOUT} s after {step.name}")
        not_before = trio.current_time() + SETTLE_SECONDS


# ------------------------------------------------------------------------ the run


@attrs.define
class _Traffic:
    """The application's sender and receiver, and the replay in ``on_connect``."""

    ledger: Ledger
    replay: bool
    session: tether.Session | None = None
    lab: Lab | None = None
    stop: trio.Event = attrs.field(factory=trio.Event)
    sender_done: trio.Event = attrs.field(factory=trio.Event)
    error: BaseException | None = None

    async def on_connect(self, conn: tether.Connection) -> None:
        """Replay every unacknowledged message, oldest first, ahead of the buffer."""
        pending = self.ledger.unacknowledged() if self.replay else []
        if not pending:
            return
        for number in pending:
            await conn.send(f"msg-{number}")
        self.ledger.replayed += len(pending)
        if self.lab is not None:
            self.lab.note(
                f"on_connect gen {conn.generation}: replayed {len(pending)} "
                f"unacknowledged message(s) (msg-{pending[0]}..msg-{pending[-1]})"
            )

    async def send_loop(self) -> None:
        """Send ``msg-<n>`` every ``SEND_INTERVAL`` seconds until told to stop."""
        session = self.session
        assert session is not None
        try:
            while not self.stop.is_set():
                number = self.ledger.submit()
                await session.send(f"msg-{number}")
                self.ledger.wrote(number)
                await trio.sleep(SEND_INTERVAL)
        except tether.SessionClosed as exc:
            self.error = exc
        finally:
            self.sender_done.set()

    async def receive_loop(self) -> None:
        """Record every echo until the session ends."""
        session = self.session
        assert session is not None
        try:
            while True:
                self.ledger.record_echo(await session.receive())
        except tether.SessionClosed as exc:
            if not self.stop.is_set():
                self.error = exc


async def run_demo(options: DemoOptions, reporter: Reporter) -> Summary:
    """Run the whole demo (server, proxy, session, faults) and return its summary."""
    schedule = SCHEDULES[options.faults]
    origin = trio.current_time()
    async with trio.open_nursery() as nursery:
        server = EchoServer()
        await nursery.start(server.serve)
        async with ChaosProxy(upstream=("127.0.0.1", server.port)) as proxy:
            summary = await _run_session(options, reporter, schedule, server, proxy, origin)
        nursery.cancel_scope.cancel()
    return summary


async def _run_session(
    options: DemoOptions,
    reporter: Reporter,
    schedule: Mapping[str, FaultFn],
    server: EchoServer,
    proxy: ChaosProxy,
    origin: float,
) -> Summary:
    url = f"ws://127.0.0.1:{proxy.port}/"
    steps = plan(schedule, options.duration, options.seed)
    _print_header(options, reporter, server, proxy, steps)
    ledger = Ledger()
    traffic = _Traffic(ledger=ledger, replay=options.replay)
    error: BaseException | None = None
    tracker: Tracker | None = None
    stats: tether.Statistics | None = None
    try:
        async with tether.connect(
            url,
            config=demo_config(),
            on_connect=traffic.on_connect,
            rng=random.Random(options.seed),
        ) as session:
            tracker = Tracker(reporter, origin, session.generation)
            reporter.note(trio.current_time() - origin, f"session open: generation 1 on {url}")
            lab = Lab(proxy, server, session, tracker, reporter)
            traffic.session, traffic.lab = session, lab
            await _exercise(session, lab, traffic, steps, origin, options.duration)
            stats = session.statistics()
    except tether.TetherError as exc:
        error = exc
    duration = trio.current_time() - origin
    return _summarize(duration, stats, tracker, ledger, traffic, steps, error)


async def _exercise(
    session: tether.Session,
    lab: Lab,
    traffic: _Traffic,
    steps: Sequence[Step],
    origin: float,
    duration: float,
) -> None:
    """Traffic and faults, then drain, close, and collect the last events."""
    async with trio.open_nursery() as outer:
        outer.start_soon(lab.tracker.consume, session.events())
        outer.start_soon(lab.reporter.live, session, traffic.ledger, origin)
        async with trio.open_nursery() as work:
            work.start_soon(traffic.send_loop)
            work.start_soon(traffic.receive_loop)
            await run_schedule(lab, steps, origin)
            await trio.sleep_until(max(origin + duration, trio.current_time() + SETTLE_SECONDS))
            traffic.stop.set()
            lab.note("stopping the sender; waiting for outstanding echoes")
            with trio.move_on_after(DRAIN_TIMEOUT):
                await traffic.sender_done.wait()
                await traffic.ledger.wait_all_echoed()
            work.cancel_scope.cancel()
        lab.note("closing the session")
        await session.aclose()
        with trio.move_on_after(1.0):
            await lab.tracker.closed.wait()
        outer.cancel_scope.cancel()


def _print_header(
    options: DemoOptions,
    reporter: Reporter,
    server: EchoServer,
    proxy: ChaosProxy,
    steps: Sequence[Step],
) -> None:
    reporter.header(
        f"tether demo: echo server 127.0.0.1:{server.port} behind ChaosProxy "
        f"127.0.0.1:{proxy.port}; duration {options.duration:g} s, seed {options.seed}, "
        f"faults {options.faults!r}"
    )
    plan_text = ", ".join(f"{step.name}@{step.at:.1f}s" for step in steps) or "no faults"
    reporter.header(f"schedule: {plan_text}")
    replay = "on (unacknowledged messages are replayed in on_connect)" if options.replay else "off"
    reporter.header(f"replay: {replay}")


def _summarize(
    duration: float,
    stats: tether.Statistics | None,
    tracker: Tracker | None,
    ledger: Ledger,
    traffic: _Traffic,
    steps: Sequence[Step],
    error: BaseException | None,
) -> Summary:
    error = error or traffic.error
    return Summary(
        duration=duration,
        generations=stats.generation if stats else 0,
        downtime=stats.downtime if stats else 0.0,
        reconnects=sum(tracker.causes.values()) if tracker else 0,
        causes=dict(tracker.causes) if tracker else {},
        backoffs=dict(tracker.backoffs) if tracker else {},
        faults=[step.name for step in steps],
        sent=len(ledger.written),
        echoed=len(ledger.echoed),
        duplicates=ledger.duplicates,
        replayed=ledger.replayed,
        lost=ledger.lost(),
        out_of_order=ledger.out_of_order,
        unexpected=ledger.unexpected,
        error=describe_error(error) if error is not None else None,
    )


def run(options: DemoOptions) -> int:
    """Run the demo in a fresh Trio run; print events and the summary. Returns the exit
    status: 0, or 1 if a message was lost or the session failed, 130 after Ctrl-C (the
    session is cancelled: it still sends its Close frame)."""
    reporter = make_reporter(options.view, span=options.duration + 2 * SETTLE_SECONDS)
    try:
        summary = run_until_interrupted(lambda: run_demo(options, reporter))
        if summary is None:
            return EXIT_INTERRUPTED
        reporter.summary(summary)
    finally:
        reporter.close()
    return 0 if summary.ok else 1
