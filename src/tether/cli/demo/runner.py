"""A whole ``tether demo`` run: the options (:class:`DemoOptions`) and session
configuration, the application's traffic (a sender, a receiver, the replay in
``on_connect``), the server, proxy, session and fault schedule started together
(:func:`run_demo`), and :func:`run`, which picks the reporter, runs it all in Trio and
returns the exit status.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence

import attrs
import trio

import tether
from tether.testing import ChaosProxy

from .._format import describe_error
from .._run import EXIT_INTERRUPTED, run_until_interrupted
from .echo_server import EchoServer
from .ledger import Ledger
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
from .tracker import Tracker

__all__ = ["DemoOptions", "demo_config", "demo_plan", "make_reporter", "run", "run_demo"]

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
        replay: replay unacknowledged messages in ``on_connect`` (default ``True``).
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


def demo_plan(options: DemoOptions) -> list[Step]:
    """The fault schedule of a run with ``options`` (:func:`.scenario.plan`)."""
    return plan(SCHEDULES[options.faults], options.duration, options.seed, config=demo_config())


async def run_demo(options: DemoOptions, reporter: Reporter) -> Summary:
    """Run the whole demo (server, proxy, session, faults) and return its summary."""
    origin = trio.current_time()
    async with trio.open_nursery() as nursery:
        server = EchoServer()
        await nursery.start(server.serve)
        async with ChaosProxy(upstream=("127.0.0.1", server.port)) as proxy:
            summary = await _run_session(options, reporter, server, proxy, origin)
        nursery.cancel_scope.cancel()
    return summary


async def _run_session(
    options: DemoOptions,
    reporter: Reporter,
    server: EchoServer,
    proxy: ChaosProxy,
    origin: float,
) -> Summary:
    url = f"ws://127.0.0.1:{proxy.port}/"
    steps = demo_plan(options)
    _print_header(options, reporter, server, proxy, steps)
    ledger = Ledger()
    traffic = _Traffic(ledger=ledger, replay=options.replay)
    error: BaseException | None = None
    # The session's on_event callback: every event, generation 1's too, as it happens
    # (events() would subscribe only once generation 1 is open, and its lines would be
    # printed when the tracker's task runs, after faults and notes timed later).
    tracker = Tracker(reporter, origin)
    stats: tether.Statistics | None = None
    try:
        async with tether.connect(
            url,
            config=demo_config(),
            on_connect=traffic.on_connect,
            rng=random.Random(options.seed),
            on_event=tracker.handle,
        ) as session:
            reporter.note(trio.current_time() - origin, f"session open: generation 1 on {url}")
            lab = Lab(proxy, server, session, tracker, reporter)
            traffic.session, traffic.lab = session, lab
            await _exercise(session, lab, traffic, steps, origin, options.duration)
            stats = session.statistics()
    except tether.TetherError as exc:
        error = exc
    if tracker.error is not None:
        raise tracker.error  # a bug of the demo's own, which the session only logged
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
    reporter.header(schedule_text(steps, options.duration))
    replay = "on (unacknowledged messages are replayed in on_connect)" if options.replay else "off"
    reporter.header(f"replay: {replay}")


def _summarize(
    duration: float,
    stats: tether.Statistics | None,
    tracker: Tracker,
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
        reconnects=sum(tracker.causes.values()),
        causes=dict(tracker.causes),
        backoffs=dict(tracker.backoffs),
        faults=[step.name for step in steps],
        sent=ledger.submitted,
        echoed=len(ledger.echoed),
        duplicates=ledger.duplicates,
        replayed=ledger.replayed,
        lost=ledger.lost(),
        never_returned=ledger.never_returned(),
        out_of_order=ledger.out_of_order,
        unexpected=ledger.unexpected,
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
