"""A whole ``tether demo`` run: the options (:class:`DemoOptions`) and session
configuration, the application's traffic over ``tether.delivery`` with the generic JSON
dialect (a sender, a receiver, the narration of each resume), the server, proxy,
session and fault schedule started together (:func:`run_demo`), and :func:`run`, which
picks the reporter, runs it all in Trio and returns the exit status.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence

import attrs
import trio

import tether
from tether import delivery as tether_delivery
from tether.events import Connected, Event
from tether.testing import ChaosProxy

from .._format import describe_error
from .._run import EXIT_INTERRUPTED, run_until_interrupted
from .counts import Counts, read_counts
from .ledger import Ledger, message
from .live_view import LiveReporter
from .report import Reporter, RichReporter, Summary
from .scenario import (
    SCHEDULES,
    SETTLE_SECONDS,
    Lab,
    Step,
    end_of,
    plan,
    run_schedule,
    schedule_text,
)
from .server import DemoServer
from .tracker import Tracker

__all__ = [
    "DemoOptions",
    "demo_config",
    "demo_dialect",
    "demo_plan",
    "make_reporter",
    "run",
    "run_demo",
]

#: Seconds between two sends of the sender task.
SEND_INTERVAL = 0.02
#: Seconds the demo waits, after it stops sending, for outstanding echoes.
DRAIN_TIMEOUT = 5.0


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
            demo runs longer when the faults' worst-case recoveries do not fit
            (:func:`.scenario.plan`).
        seed: seeds the schedule's order and timing and the backoff jitter (default 1).
        faults: name of a schedule in :data:`SCHEDULES` (default ``"default"``).
        replay: the delivery layer keeps every message until the server acknowledges it
            and writes it again after a reconnect (default ``True``); ``False``
            (``--no-replay``) tracks no ids, so each message is written once
            (:func:`demo_dialect`).
        view: ``"plain"`` lines, ``"rich"`` coloured lines, ``"live"`` a live terminal
            view (:mod:`.live_view`), or ``"auto"`` (default): live when stdout is a
            terminal and rich is installed, plain otherwise.
    """

    duration: float = 20.0
    seed: int = 1
    faults: str = "default"
    replay: bool = True
    view: str = "auto"


def make_reporter(view: str = "auto", span: float = 0.0) -> Reporter:
    """The reporter for ``view`` (see :class:`DemoOptions`); ``span`` is the expected
    duration of the run in seconds (the live view's time axis). Without rich installed,
    every view is plain lines."""
    if view == "auto":
        view = "live" if sys.stdout.isatty() else "plain"
    try:
        if view == "live":
            return LiveReporter(span=span)
        if view == "rich":
            return RichReporter()
    except ImportError:
        pass
    return Reporter()


def demo_dialect(replay: bool = True) -> tether_delivery.Dialect:
    """The generic JSON dialect (:func:`tether.delivery.json_dialect`), or, without
    ``replay``, the same with no message ids: nothing is held for an acknowledgement
    or resent, as a transport alone would do (the messages still carry their ``"id"``,
    so the server acknowledges and echoes them; the acknowledgements are ignored)."""
    dialect = tether_delivery.json_dialect()
    if replay:
        return dialect
    return attrs.evolve(dialect, message_id=lambda message: None)


@attrs.define
class _Traffic:
    """The application's sender and receiver over the delivery layer, and the narration
    of what each new generation resumed from and resent."""

    ledger: Ledger
    tracker: Tracker
    server: DemoServer
    delivery: tether_delivery.Delivery | None = None
    lab: Lab | None = None
    stop: trio.Event = attrs.field(factory=trio.Event)
    sender_done: trio.Event = attrs.field(factory=trio.Event)
    error: BaseException | None = None
    _resumed_after: int | None = None
    _resent_noted: int = 0

    def counts(self) -> Counts:
        """The message counters now."""
        stats = self.delivery.statistics() if self.delivery is not None else None
        return read_counts(self.ledger, stats, self.server.app)

    async def on_connect(self, conn: tether.Connection) -> None:
        """Runs after the resume message is written, before the resends: keep the
        sequence number the resume named, for the note."""
        if self.delivery is not None:
            self._resumed_after = self.delivery.last_sequence

    def on_event(self, event: Event) -> None:
        """The session's ``on_event``: the tracker's line, then, for a new generation
        after the first, a note of its resume and of what the delivery layer resent
        since the last note (its attempts' resends: they run before ``Connected``)."""
        self.tracker.handle(event)
        if not isinstance(event, Connected) or self.delivery is None or self.lab is None:
            return
        try:
            total = self.delivery.statistics().resent
            resent, self._resent_noted = total - self._resent_noted, total
            self.lab.note(
                f"gen {event.generation}: resumed after seq {self._resumed_after} (the "
                f"server sends again what came later); resent {resent} unacknowledged "
                "message(s)"
            )
        except Exception as exc:  # on_event must not raise: the runner raises it after
            if self.tracker.error is None:
                self.tracker.error = exc

    async def send_loop(self) -> None:
        """Send message ``n`` every ``SEND_INTERVAL`` seconds until told to stop."""
        delivery = self.delivery
        assert delivery is not None
        try:
            while not self.stop.is_set():
                number = self.ledger.submit()
                await delivery.send(message(number))
                self.ledger.wrote(number)
                await trio.sleep(SEND_INTERVAL)
        except tether.SessionClosed as exc:
            self.error = exc
        finally:
            self.sender_done.set()

    async def receive_loop(self) -> None:
        """Record every echo until the session ends."""
        delivery = self.delivery
        assert delivery is not None
        try:
            while True:
                self.ledger.record_echo(await delivery.receive())
        except tether.SessionClosed as exc:
            if not self.stop.is_set():
                self.error = exc

    async def wait_drained(self) -> None:
        """Wait until the sender has stopped, every message is acknowledged (with
        ``replay``) and every echo is in."""
        assert self.delivery is not None
        await self.sender_done.wait()
        await self.delivery.wait_acknowledged()
        await self.ledger.wait_all_echoed()


def demo_plan(options: DemoOptions) -> list[Step]:
    """The fault schedule of a run with ``options`` (:func:`.scenario.plan`)."""
    return plan(SCHEDULES[options.faults], options.duration, options.seed, config=demo_config())


async def run_demo(options: DemoOptions, reporter: Reporter) -> Summary:
    """Run the whole demo (server, proxy, session, faults) and return its summary."""
    origin = trio.current_time()
    async with trio.open_nursery() as nursery:
        server = DemoServer()
        await nursery.start(server.web.serve)
        async with ChaosProxy(upstream=("127.0.0.1", server.web.port)) as proxy:
            summary = await _run_session(options, reporter, server, proxy, origin)
        nursery.cancel_scope.cancel()
    return summary


async def _run_session(
    options: DemoOptions,
    reporter: Reporter,
    server: DemoServer,
    proxy: ChaosProxy,
    origin: float,
) -> Summary:
    url = f"ws://127.0.0.1:{proxy.port}/"
    steps = demo_plan(options)
    _print_header(options, reporter, server, proxy, steps)
    # The session's on_event callback: every event, generation 1's too, as it happens
    # (events() would subscribe only once generation 1 is open, and its lines would be
    # printed when the tracker's task runs, after faults and notes timed later).
    tracker = Tracker(reporter, origin)
    traffic = _Traffic(ledger=Ledger(), tracker=tracker, server=server)
    error: BaseException | None = None
    stats: tether.Statistics | None = None
    try:
        async with tether_delivery.connect(
            url,
            dialect=demo_dialect(options.replay),
            codec=tether.JsonCodec(),
            config=demo_config(),
            on_connect=traffic.on_connect,
            rng=random.Random(options.seed),
            on_event=traffic.on_event,
        ) as delivery:
            session = delivery.session
            reporter.note(trio.current_time() - origin, f"session open: generation 1 on {url}")
            lab = Lab(proxy, server.web, session, tracker, reporter)
            traffic.delivery, traffic.lab = delivery, lab
            await _exercise(session, lab, traffic, steps, origin, options.duration)
            stats = session.statistics()
    except tether.TetherError as exc:
        error = exc
    if tracker.error is not None:
        raise tracker.error  # a bug of the demo's own, which the session only logged
    if server.handler_errors():
        raise server.handler_errors()[0]  # a bug of the server's, which it only recorded
    duration = trio.current_time() - origin
    return _summarize(duration, stats, tracker, traffic, steps, error)


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
        outer.start_soon(lab.reporter.live, session, traffic.counts, origin)
        async with trio.open_nursery() as work:
            work.start_soon(traffic.send_loop)
            work.start_soon(traffic.receive_loop)
            await run_schedule(lab, steps, origin)
            await trio.sleep_until(max(origin + duration, trio.current_time() + SETTLE_SECONDS))
            traffic.stop.set()
            lab.note("stopping the sender; waiting for the outstanding acknowledgements and echoes")
            with trio.move_on_after(DRAIN_TIMEOUT):
                await traffic.wait_drained()
            work.cancel_scope.cancel()
        lab.note("closing the session")
        await session.aclose()
        with trio.move_on_after(1.0):
            await lab.tracker.closed.wait()
        outer.cancel_scope.cancel()


def _print_header(
    options: DemoOptions,
    reporter: Reporter,
    server: DemoServer,
    proxy: ChaosProxy,
    steps: Sequence[Step],
) -> None:
    reporter.header(
        f"tether demo: echo server (generic JSON dialect) 127.0.0.1:{server.web.port} "
        f"behind ChaosProxy 127.0.0.1:{proxy.port}; duration {options.duration:g} s, "
        f"seed {options.seed}, faults {options.faults!r}"
    )
    reporter.header(schedule_text(steps, options.duration))
    if options.replay:
        delivery = (
            "tether.delivery, json_dialect(): each message kept until acknowledged and "
            "resent after a reconnect; the resume replays the echoes missed"
        )
    else:
        delivery = (
            "tether.delivery, json_dialect() without ids (--no-replay): each message "
            "written once, never resent"
        )
    reporter.header(f"delivery: {delivery}")


def _summarize(
    duration: float,
    stats: tether.Statistics | None,
    tracker: Tracker,
    traffic: _Traffic,
    steps: Sequence[Step],
    error: BaseException | None,
) -> Summary:
    error = error or traffic.error
    return Summary(
        duration=duration,
        generations=stats.generation if stats else 0,
        downtime=stats.downtime if stats else 0.0,
        reconnects=sum(tracker.causes.values()),
        causes=dict(tracker.causes),
        backoffs=dict(tracker.backoffs),
        faults=[step.name for step in steps],
        messages=traffic.counts(),
        error=describe_error(error) if error is not None else None,
    )


def run(options: DemoOptions) -> int:
    """Run the demo in a fresh Trio run; print events and the summary. Returns the exit
    status: 0, or 1 if a message was lost or the session failed, 130 after Ctrl-C (the
    session is cancelled: it still sends its Close frame)."""
    span = end_of(demo_plan(options), options.duration) + SETTLE_SECONDS
    reporter = make_reporter(options.view, span=span)
    try:
        summary = run_until_interrupted(lambda: run_demo(options, reporter))
        if summary is None:
            return EXIT_INTERRUPTED
        reporter.summary(summary)
    finally:
        reporter.close()
    return 0 if summary.ok else 1
