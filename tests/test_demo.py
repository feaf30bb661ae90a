"""``tether demo`` and the ``tether`` command.

The end-to-end tests read one run of ``python -m tether demo --duration 8 --plain`` in a
subprocess over real loopback sockets (about 20 s of real time, shared by the module:
``demo_output``); the rest are fast: argument parsing, the schedule planner, the
tracker's narration (fabricated events, and a real session through the demo's faults
on the virtual clock), the message ledger and the output formatting. Two more runs in
process, with the stall alone (``--faults stall``), show that the delivery layer loses
nothing under it and that without it (``--no-replay``) the stall loses messages.

The narration (issue 15, "the demo narrates correctly"), each point checked on
fabricated events or the virtual clock and on the real run's output:

* attempts counted within each generation: ``test_tracker_numbers_attempts_within_each_
  generation``, ``test_demo_numbers_attempts_within_each_generation``;
* each event labelled with the generation it is about:
  ``test_tracker_labels_backing_off_with_the_generation_it_follows``,
  ``test_demo_labels_each_event_with_the_generation_it_is_about``;
* lines in time order, generation 1's included: ``test_the_demo_scenario_on_the_virtual_
  clock``, ``test_demo_lines_are_in_time_order``;
* the header's schedule is when the faults fire: ``test_plan_spaces_each_fault_by_its_
  worst_case_recovery``, ``test_the_demo_scenario_on_the_virtual_clock`` (the longest
  backoff delays), ``test_demo_faults_fire_when_the_schedule_says``;
* every summary field explained: ``test_summary_is_followed_by_a_legend_of_every_field``,
  ``test_demo_help_has_the_legend``, ``test_demo_summary_is_followed_by_the_legend``.
"""

from __future__ import annotations

import itertools
import random
import re
import subprocess
import sys

import attrs
import pytest
import trio
import trio.testing

import tether
from tether import cli
from tether.cli._format import describe_error
from tether.cli.demo.counts import Counts
from tether.cli.demo.ledger import Ledger, message
from tether.cli.demo.report import (
    LEGEND,
    LINE_LEGEND,
    Reporter,
    Summary,
    legend_lines,
    summary_line,
)
from tether.cli.demo.runner import demo_config
from tether.cli.demo.scenario import (
    FIRE_TOLERANCE,
    SCHEDULES,
    SETTLE_SECONDS,
    Lab,
    end_of,
    plan,
    run_schedule,
)
from tether.cli.demo.tracker import Tracker
from tether.events import (
    BackingOff,
    Closed,
    Connected,
    Connecting,
    ConnectionLost,
    Event,
    LostReason,
)
from tether.exceptions import ConnectionLostError, HandshakeRejected
from tether.testing import MemoryServer, memory_server

#: One event line: ``[  3.547] gen 2   BackingOff      for gen 3 attempt=1 ...``.
EVENT_LINE = re.compile(r"^\[ *(\d+\.\d+)\] gen (\d+) +(\w+) +(.*)$", re.MULTILINE)
#: Any timed line (events, faults, notes).
TIMED_LINE = re.compile(r"^\[ *(\d+\.\d+)\] ", re.MULTILINE)


def run_tether(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def summary_field(output: str, label: str) -> str:
    match = re.search(rf"^  {re.escape(label)}:\s+(.*)$", output, re.MULTILINE)
    assert match is not None, f"no {label!r} line in:\n{output}"
    return match.group(1)


def event_lines(output: str) -> list[tuple[float, int, str, str]]:
    """``(time, gen label, event kind, rest)`` of each event line, in output order."""
    return [(float(at), int(gen), kind, rest) for at, gen, kind, rest in EVENT_LINE.findall(output)]


def attempt_of(rest: str) -> int:
    match = re.search(r"attempt=(\d+)", rest)
    assert match is not None, rest
    return int(match.group(1))


@pytest.fixture(scope="module")
def demo_output() -> str:
    """The standard output of one ``tether demo --duration 8 --plain`` (exit status 0)."""
    result = run_tether("demo", "--duration", "8", "--plain", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.loopback
def test_demo_survives_the_default_schedule(demo_output: str) -> None:
    output = demo_output

    reconnects = re.fullmatch(r"(\d+) \((.*)\)", summary_field(output, "reconnects"))
    assert reconnects is not None
    causes = dict(item.split(": ") for item in reconnects.group(2).split(", "))
    assert int(reconnects.group(1)) >= 4
    assert len(causes) >= 3
    assert {"transport_error", "peer_closed", "ping_timeout"} <= set(causes)
    assert summary_field(output, "lost") == "0"
    assert summary_field(output, "result") == "OK"

    # tether.delivery: every message acknowledged, received by the server once and
    # echoed once; the stall's swallowed messages were resent (so at least one), every
    # copy the server or the client had seen already dropped, no gap.
    sent = int(summary_field(output, "messages sent"))
    assert sent > 0
    assert summary_field(output, "acknowledged") == str(sent)
    assert summary_field(output, "received") == f"{sent} by the server, each once"
    assert summary_field(output, "echoed") == f"{sent} unique"
    resent = int(summary_field(output, "resent"))
    assert resent >= 1
    dropped = re.fullmatch(
        r"(\d+) \((\d+) by the server, (\d+) by the client\)",
        summary_field(output, "duplicates dropped"),
    )
    assert dropped is not None
    assert int(dropped[1]) == int(dropped[2]) + int(dropped[3])
    assert int(dropped[2]) <= resent  # the server drops only copies that were resent
    assert summary_field(output, "gaps") == "0"
    assert summary_field(output, "out of order") == "0"
    # After each reconnect a note says what the generation resumed from and resent;
    # the resends add up to the summary's.
    notes = re.findall(
        r"note    gen (\d+): resumed after seq (\d+|None) .*; resent (\d+) unacknowledged",
        output,
    )
    assert [int(gen) for gen, _, _ in notes] == [2, 3, 4, 5, 6]
    assert sum(int(n) for _, _, n in notes) == resent
    resumed = [int(seq) for _, seq, _ in notes]
    assert resumed == sorted(resumed)
    # The stall (the ping_timeout loss) swallowed what was written into it: the
    # generation after it resent it.
    lost_lines = [
        (gen, rest) for _, gen, kind, rest in event_lines(output) if kind == "ConnectionLost"
    ]
    stalled = next(gen for gen, rest in lost_lines if "reason=ping_timeout" in rest)
    assert int(dict((int(g), n) for g, _, n in notes)[stalled + 1]) >= 1

    # The faults left their marks in the event log.
    assert "code=1001" in output
    assert re.search(r"BackingOff .*delay=1\.000s error=HandshakeRejected\(503\)", output)
    assert re.search(r"BackingOff .*error=ConnectionRefusedError", output)
    assert "reason=ping_timeout" in output


def test_version() -> None:
    result = run_tether("--version", timeout=30)
    assert result.returncode == 0
    assert re.fullmatch(r"tether \S+\n", result.stdout)


def test_demo_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--duration SECONDS" in out
    assert "example:" in out
    assert "tether demo --duration" in out


@pytest.mark.parametrize("bad", ["0", "-3", "nan", "soon"])
def test_demo_rejects_a_bad_duration(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--duration", bad])
    assert exit_info.value.code == 2
    assert "--duration" in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().out


@pytest.mark.loopback
def test_demo_without_faults_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--faults", "none", "--duration", "0.5", "--plain"]) == 0
    out = capsys.readouterr().out
    assert summary_field(out, "reconnects") == "0"
    assert summary_field(out, "lost") == "0"
    sent = int(summary_field(out, "messages sent"))
    assert sent > 0
    assert summary_field(out, "acknowledged") == str(sent)
    assert summary_field(out, "resent") == "0"
    assert summary_field(out, "duplicates dropped") == "0 (0 by the server, 0 by the client)"


@pytest.mark.loopback
def test_the_delivery_layer_loses_nothing_under_the_stall(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The stall alone: what was written into the half-open link is resent on the next
    generation and echoed once; nothing lost, no gap, exit status 0."""
    assert cli.main(["demo", "--faults", "stall", "--duration", "2", "--plain"]) == 0
    out = capsys.readouterr().out
    assert "reason=ping_timeout" in out
    sent = int(summary_field(out, "messages sent"))
    assert summary_field(out, "acknowledged") == str(sent)
    assert summary_field(out, "received") == f"{sent} by the server, each once"
    assert summary_field(out, "echoed") == f"{sent} unique"
    resent = int(summary_field(out, "resent"))
    assert resent >= 1
    note = re.search(r"note    gen 2: resumed after seq \d+ .*; resent (\d+) unacknowledged", out)
    assert note is not None, out
    assert int(note[1]) == resent
    assert summary_field(out, "gaps") == "0"
    assert summary_field(out, "lost") == "0"
    assert summary_field(out, "result") == "OK"


@pytest.mark.loopback
def test_without_ids_the_stall_loses_what_was_written_into_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--no-replay``: the same stall, messages without ids the layer tracks: written
    once, never resent, so what the half-open link swallowed is lost (exit status 1).
    The delivery layer is what saves them in the test above."""
    args = ["demo", "--faults", "stall", "--duration", "2", "--plain", "--no-replay"]
    assert cli.main(args) == 1
    out = capsys.readouterr().out
    assert "reason=ping_timeout" in out
    assert summary_field(out, "acknowledged") == "0"
    assert summary_field(out, "resent") == "0"
    assert int(summary_field(out, "lost")) >= 1
    assert summary_field(out, "result") == "FAILED"


def test_plan_spreads_the_default_schedule_over_the_duration() -> None:
    # Long enough for every fault's worst-case recovery: evenly spread, within it.
    steps = plan(SCHEDULES["default"], duration=60.0, seed=3, config=demo_config())
    assert sorted(step.name for step in steps) == sorted(SCHEDULES["default"])
    times = [step.at for step in steps]
    assert times == sorted(times)
    assert times[0] > 0
    assert times[-1] < 60.0
    assert end_of(steps, 60.0) == 60.0
    for index, at in enumerate(times, start=1):
        assert abs(at - index * 10.0) <= 2.0  # spacing 60 / 6, jitter up to a fifth
    assert plan(SCHEDULES["default"], duration=60.0, seed=3, config=demo_config()) == steps


@pytest.mark.parametrize("duration", [1.0, 8.0, 12.0, 20.0])
def test_plan_spaces_each_fault_by_its_worst_case_recovery(duration: float) -> None:
    config = demo_config()
    steps = plan(SCHEDULES["default"], duration=duration, seed=1, config=config)
    assert [step.name for step in steps] == [
        "stall",
        "restart-503",
        "outage",
        "drop",
        "going-away",
    ]  # seed 1's order
    backoff = config.backoff.maximum
    pings = 2.0  # ping_interval + ping_timeout
    worst = {  # detection + backoff delays at their cap (and Retry-After: 1 below it)
        "stall": pings + backoff,
        "restart-503": 2 * backoff,
        "outage": 1.5 + backoff,
        "drop": backoff,
        "going-away": backoff,
    }
    for step in steps:
        assert step.recovery >= worst[step.name]
    for before, after in itertools.pairwise(steps):
        assert after.at - before.at >= before.recovery + SETTLE_SECONDS - 1e-9
    assert end_of(steps, duration) >= steps[-1].at + steps[-1].recovery + SETTLE_SECONDS
    # Where the spread leaves enough room the fault keeps its place in it.
    spacing = duration / 6
    assert abs(steps[0].at - spacing) <= spacing / 5 + 1e-9


def echo_of(number: int, seq: int = 1) -> dict[str, object]:
    """The server's echo of message ``number`` (as JsonDialectServer sends it)."""
    return {"echo": f"msg-{number}", "reply_to": number, "seq": seq}


def test_ledger_counts_repeats_out_of_order_and_lost() -> None:
    ledger = Ledger()
    for _ in range(4):
        ledger.wrote(ledger.submit())
    assert message(3) == {"id": 3, "text": "msg-3"}
    for received in [echo_of(1), echo_of(3), echo_of(2), echo_of(3), {"seq": 9}, "msg-4"]:
        ledger.record_echo(received)
    assert (ledger.repeated, ledger.out_of_order, ledger.unexpected) == (1, 1, 2)
    assert ledger.lost() == 1
    ledger.record_echo({"echo": "msg-5", "reply_to": 4, "seq": 10})  # not 4's text
    assert (ledger.lost(), ledger.unexpected) == (1, 3)
    ledger.record_echo(echo_of(4))
    assert ledger.lost() == 0


def test_reporter_lines() -> None:
    lines: list[str] = []
    reporter = Reporter(lines.append)
    lost = ConnectionLost(
        generation=2, at=3.5, reason=LostReason.PEER_CLOSED, code=1001, detail="going away"
    )
    reporter.event(1.25, lost)
    reporter.fault(1.0, "drop: reset 1 proxied TCP connection(s)")
    assert lines[0] == (
        "[  1.250] gen 2   ConnectionLost  reason=peer_closed code=1001 detail='going away'"
    )
    assert lines[1].startswith("[  1.000] FAULT   drop:")
    summary = Summary(
        duration=8.0,
        generations=6,
        reconnects=5,
        downtime=2.0,
        causes={"transport_error": 3, "peer_closed": 2},
        backoffs={},
        faults=["drop"],
        messages=Counts(sent=10, acknowledged=10, received=9, echoed=9, resent=2, lost=1),
        error=None,
    )
    reporter.summary(summary)
    text = "\n".join(lines)
    assert summary_field(text, "reconnects") == "5 (peer_closed: 2, transport_error: 3)"
    assert summary_field(text, "result") == "FAILED"
    assert not summary.ok


@pytest.mark.parametrize(
    ("counts", "ok"),
    [
        (Counts(sent=5, echoed=5), True),
        (Counts(sent=5, echoed=5, resent=4, server_duplicates=3, client_duplicates=1), True),
        (Counts(sent=5, echoed=4, lost=1), False),
        (Counts(sent=5, echoed=5, gaps=1), False),
        (Counts(sent=5, echoed=5, repeated=1), False),
        (Counts(sent=5, echoed=5, out_of_order=1), False),
    ],
)
def test_a_run_is_ok_only_when_every_message_came_back_once_in_order(
    counts: Counts, ok: bool
) -> None:
    summary = Summary(
        duration=1.0,
        generations=1,
        reconnects=0,
        downtime=0.0,
        causes={},
        backoffs={},
        faults=[],
        messages=counts,
        error=None,
    )
    assert summary.ok is ok
    assert dict(summary.lines())["result"] == ("OK" if ok else "FAILED")
    assert not attrs.evolve(summary, error="SessionClosed: gone").ok


@pytest.mark.loopback
async def test_describe_error_unwraps_trio_connect_errors() -> None:
    with trio.socket.socket() as placeholder:
        await placeholder.bind(("127.0.0.1", 0))
        closed_port = placeholder.getsockname()[1]
    with pytest.raises(OSError) as info:
        await trio.open_tcp_stream("127.0.0.1", closed_port)
    assert describe_error(info.value).startswith("ConnectionRefusedError: [Errno")
    assert describe_error(None) == "-"


def test_a_send_that_never_returns_counts_as_lost() -> None:
    # msg-1 and msg-2 went through; msg-3's send() never returned (a session that
    # stopped writing) and its echo never came: lost, and the run FAILED.
    ledger = Ledger()
    for _ in range(2):
        ledger.wrote(ledger.submit())
    ledger.submit()
    for number in [1, 2]:
        ledger.record_echo(echo_of(number))
    assert (ledger.lost(), ledger.never_returned()) == (1, 1)
    lines: list[str] = []
    summary = Summary(
        duration=1.0,
        generations=2,
        reconnects=1,
        downtime=0.5,
        causes={},
        backoffs={},
        faults=[],
        messages=Counts(
            sent=3, echoed=2, lost=ledger.lost(), never_returned=ledger.never_returned()
        ),
        error=None,
    )
    Reporter(lines.append).summary(summary)
    text = "\n".join(lines)
    assert summary_field(text, "lost") == "1 (1 never returned from send())"
    assert summary_field(text, "result") == "FAILED"
    ledger.record_echo(echo_of(3))  # its echo came after all: nothing lost
    assert (ledger.lost(), ledger.never_returned()) == (0, 0)


async def test_ledger_waits_for_echoes() -> None:
    ledger = Ledger()
    ledger.wrote(ledger.submit())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ledger.wait_all_echoed)
        await trio.testing.wait_all_tasks_blocked()
        ledger.record_echo(echo_of(1))


# ------------------------------------------------------------------ the narration

URL = "ws://demo.test/"


def connecting(generation: int, attempt: int, at: float = 0.0) -> Connecting:
    return Connecting(generation=generation, at=at, attempt=attempt, url=URL)


def connected(generation: int, attempt: int, at: float = 0.0) -> Connected:
    return Connected(generation=generation, at=at, url=URL, attempt=attempt)


def lost(generation: int, at: float = 0.0) -> ConnectionLost:
    return ConnectionLost(
        generation=generation, at=at, reason=LostReason.PEER_CLOSED, code=1001, detail=""
    )


def backing_off(
    generation: int, attempt: int, error: BaseException | None = None, at: float = 0.0
) -> BackingOff:
    error = error or ConnectionLostError(LostReason.PEER_CLOSED, 1001, "")
    return BackingOff(generation=generation, at=at, attempt=attempt, delay=0.5, error=error)


#: A session's events as it numbers them: its attempt count runs across the outage
#: (no connection stayed up for stable_after) until generation 3's loss, which came
#: after a stable connection and started a fresh outage at attempt 1.
SESSION_EVENTS: list[Event] = [
    connecting(1, 1),
    connected(1, 1),
    lost(1),
    backing_off(2, 2),
    connecting(2, 2),
    connected(2, 2),  # its first try
    lost(2),
    backing_off(3, 3),
    connecting(3, 3),
    backing_off(3, 4, HandshakeRejected(503, {"retry-after": "1"})),
    connecting(3, 4),
    connected(3, 4),  # its second try
    lost(3),
    connecting(4, 1),
    connected(4, 1),
    Closed(generation=4, at=0.0, code=1000, reason=""),
]


def narrated(events: list[Event]) -> list[tuple[int, str, str]]:
    """``(gen label, kind, rest)`` of the lines a Tracker reports for ``events``."""
    lines: list[str] = []
    tracker = Tracker(Reporter(lines.append), origin=0.0)
    for event in events:
        tracker.handle(event)
    assert tracker.error is None
    output = "\n".join(lines)
    return [(gen, kind, rest) for _, gen, kind, rest in event_lines(output)]


def test_tracker_numbers_attempts_within_each_generation() -> None:
    lines = narrated(SESSION_EVENTS)
    numbered = [
        (gen, kind, attempt_of(rest))
        for gen, kind, rest in lines
        if kind in ("Connecting", "Connected", "BackingOff")
    ]
    assert numbered == [
        (1, "Connecting", 1),
        (1, "Connected", 1),
        (1, "BackingOff", 1),  # waits before generation 2's first attempt
        (2, "Connecting", 1),
        (2, "Connected", 1),  # the session said attempt=2
        (2, "BackingOff", 1),
        (3, "Connecting", 1),
        (3, "BackingOff", 2),  # the 503: waits before generation 3's second attempt
        (3, "Connecting", 2),
        (3, "Connected", 2),  # the session said attempt=4
        (4, "Connecting", 1),
        (4, "Connected", 1),
    ]


def test_tracker_labels_backing_off_with_the_generation_it_follows() -> None:
    lines = narrated(SESSION_EVENTS)
    backoffs = [
        (gen, rest.split(" delay=")[0]) for gen, kind, rest in lines if kind == "BackingOff"
    ]
    assert backoffs == [
        (1, "for gen 2 attempt=1"),  # after generation 1's loss, labelled with it
        (2, "for gen 3 attempt=1"),  # after generation 2's loss (the session's gen 3)
        (3, "for gen 3 attempt=2"),  # after generation 3's first attempt was rejected
    ]
    labels = [(gen, kind) for gen, kind, _ in lines if kind != "BackingOff"]
    assert labels == [
        (event.generation, type(event).__name__)
        for event in SESSION_EVENTS
        if not isinstance(event, BackingOff)
    ]  # every other event: its own generation


def test_an_attempt_without_a_connecting_event_is_still_counted() -> None:
    # An attempt whose url callable failed has a BackingOff but no Connecting.
    refused = ConnectionRefusedError("refused")
    lines = narrated(
        [backing_off(1, 2, refused), connecting(1, 2), connected(1, 2), lost(1), connected(2, 5)]
    )
    assert [(gen, kind, attempt_of(rest)) for gen, kind, rest in lines if "attempt=" in rest] == [
        (1, "BackingOff", 2),
        (1, "Connecting", 2),
        (1, "Connected", 2),
        (2, "Connected", 1),
    ]


class LongestDelays(random.Random):
    """Draws the top of every jitter window: each backoff delay at its cap."""

    def uniform(self, a: float, b: float) -> float:
        return b


@attrs.define
class MemoryProxy:
    """What the demo's faults do to its ChaosProxy, done to a memory server."""

    server: MemoryServer
    port: int = 0

    def drop(self) -> int:
        count = len(self.server.open_connections)
        self.server.drop()
        return count

    def stall(self) -> None:
        self.server.stall()

    def resume(self) -> None:
        self.server.resume()

    def go_down(self) -> None:
        self.server.go_down()

    def come_back(self) -> None:
        self.server.come_back()


@pytest.mark.parametrize("delays", ["growing", "capped"])
async def test_the_demo_scenario_on_the_virtual_clock(
    delays: str, autojump_clock: trio.abc.Clock
) -> None:
    """The demo's own faults, plan and tracker, with a session on a memory server whose
    every backoff delay is the longest its step allows ("growing": the demo's config;
    "capped": every step at ``Backoff.maximum``, the worst case the plan allows for):
    each fault fires at its planned time exactly, every line (generation 1's Connecting
    and Connected included) is in time order, and the attempts are counted within
    each generation."""
    config = demo_config()
    steps = plan(SCHEDULES["default"], duration=8.0, seed=1, config=config)
    if delays == "capped":
        backoff = attrs.evolve(config.backoff, initial=config.backoff.maximum)
        config = attrs.evolve(config, backoff=backoff)
        assert plan(SCHEDULES["default"], duration=8.0, seed=1, config=config) == steps
    lines: list[str] = []
    reporter = Reporter(lines.append)
    origin = trio.current_time()
    tracker = Tracker(reporter, origin)
    async with memory_server() as server, trio.open_nursery() as nursery:
        async with tether.connect(
            URL,
            opener=server.opener,
            config=config,
            rng=LongestDelays(),
            on_event=tracker.handle,
        ) as session:
            late_subscriber = session.events()
            lab = Lab(
                MemoryProxy(server),  # type: ignore[arg-type]
                server,  # type: ignore[arg-type]  # close(code), reject(n, ...) as well
                session,
                tracker,
                reporter,
            )
            await run_schedule(lab, steps, origin)
        nursery.cancel_scope.cancel()
    assert tracker.error is None
    output = "\n".join(lines)

    # Each fault fired at its time (no WARNING), the recovery within its worst case.
    fired = {
        name: float(at)
        for at, name in re.findall(r"^\[ *(\d+\.\d+)\] FAULT   ([\w-]+):", output, re.M)[::-1]
    }
    assert "note    WARNING" not in output
    assert fired == pytest.approx({step.name: step.at for step in steps}, abs=1e-3)

    # Every line in time order; generation 1's Connecting and Connected are there,
    # which a subscription made after connect() returned never sees.
    times = [float(at) for at in TIMED_LINE.findall(output)]
    assert times == sorted(times)
    events = event_lines(output)
    assert [(gen, kind) for _, gen, kind, _ in events[:2]] == [
        (1, "Connecting"),
        (1, "Connected"),
    ]
    seen_late = []
    while True:
        try:
            seen_late.append(late_subscriber.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    assert not any(isinstance(e, (Connecting, Connected)) and e.generation == 1 for e in seen_late)

    # Generation 3 (the 503) took two attempts; every other generation opened at its
    # first (the outage's 1.5 s are over before the first 2 s delay), though the
    # session's count ran across the whole outage (no connection was up 5 s).
    opened = {gen: attempt_of(rest) for _, gen, kind, rest in events if kind == "Connected"}
    assert opened == {1: 1, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1}
    assert [e.attempt for e in seen_late if isinstance(e, Connected)] == [2, 4, 5, 6, 7]
    if delays == "capped":
        assert set(re.findall(r"BackingOff .* delay=(\S+) ", output)) == {"2.000s"}


def test_summary_is_followed_by_a_legend_of_every_field() -> None:
    lines: list[str] = []
    summary = Summary(
        duration=8.0,
        generations=6,
        reconnects=5,
        downtime=2.0,
        causes={"transport_error": 3, "peer_closed": 2},
        backoffs={"ConnectionLostError": 5},
        faults=["drop"],
        messages=Counts(
            sent=10,
            acknowledged=10,
            received=10,
            echoed=10,
            resent=3,
            server_duplicates=2,
            client_duplicates=1,
        ),
        error=None,
    )
    Reporter(lines.append).summary(summary)
    labels = [label for label, _ in summary.lines()]
    assert lines[: len(labels) + 1] == ["summary"] + [
        summary_line(label, value) for label, value in summary.lines()
    ]
    assert summary_field("\n".join(lines), "resent") == "3"
    assert (
        summary_field("\n".join(lines), "duplicates dropped")
        == "3 (2 by the server, 1 by the client)"
    )
    assert summary.ok
    legend = lines[len(labels) + 1 :]
    assert legend == legend_lines()
    assert legend[0] == "legend"
    assert [label for label, _ in LEGEND] == labels  # every field, in the same order
    for label in labels:
        assert sum(1 for line in legend if line.startswith(f"    {label} ")) == 1, label
    for term, _ in LINE_LEGEND:
        assert sum(1 for line in legend if line.startswith(f"    {term} ")) == 1, term
    assert all(len(line) <= 88 for line in legend)


def test_demo_help_has_the_legend(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    out = capsys.readouterr().out
    words = " ".join(out.split())
    for line in legend_lines():
        assert " ".join(line.split()) in words, line


# ------------------------------------------------------- the narration, end to end


@pytest.mark.loopback
def test_demo_numbers_attempts_within_each_generation(demo_output: str) -> None:
    attempts: dict[int, list[int]] = {}
    opened: dict[int, int] = {}
    for _, gen, kind, rest in event_lines(demo_output):
        if kind == "Connecting":
            attempts.setdefault(gen, []).append(attempt_of(rest))
        elif kind == "Connected":
            opened[gen] = attempt_of(rest)
    assert sorted(opened) == [1, 2, 3, 4, 5, 6]
    for gen, numbers in attempts.items():
        assert numbers == list(range(1, len(numbers) + 1)), gen
        assert opened[gen] == len(numbers), gen
    # Seed 1's order: stall, restart-503, outage, drop, going-away. Generations 5 and 6
    # (drop, going-away) came back at their first try, though the session's own count
    # ran across the whole outage; the 503 cost generation 3 an attempt.
    assert opened[5] == opened[6] == 1
    assert opened[3] >= 2


@pytest.mark.loopback
def test_demo_labels_each_event_with_the_generation_it_is_about(demo_output: str) -> None:
    events = event_lines(demo_output)
    backoffs = 0
    for before, (_, gen, kind, rest) in itertools.pairwise(events):
        _, gen_before, kind_before, rest_before = before
        if kind != "BackingOff":
            continue
        backoffs += 1
        target = re.match(r"for gen (\d+) attempt=(\d+) ", rest)
        assert target is not None, rest
        if kind_before == "ConnectionLost":  # after a loss: the lost generation's
            assert gen == gen_before
            assert target.groups() == (str(gen + 1), "1")
        else:  # after a failed attempt: the generation it tried to open
            assert kind_before == "Connecting"
            assert gen == gen_before == int(target.group(1))
            assert int(target.group(2)) == attempt_of(rest_before) + 1
    assert backoffs >= 5
    # Connecting, Connected and ConnectionLost: the generation opened or lost.
    assert [gen for _, gen, kind, _ in events if kind == "ConnectionLost"] == [1, 2, 3, 4, 5]
    assert [gen for _, gen, kind, _ in events if kind == "Connected"] == [1, 2, 3, 4, 5, 6]


@pytest.mark.loopback
def test_demo_lines_are_in_time_order(demo_output: str) -> None:
    times = [float(at) for at in TIMED_LINE.findall(demo_output)]
    assert len(times) > 30
    assert times == sorted(times)
    first = event_lines(demo_output)[:2]
    assert [(gen, kind, attempt_of(rest)) for _, gen, kind, rest in first] == [
        (1, "Connecting", 1),
        (1, "Connected", 1),
    ]


@pytest.mark.loopback
def test_demo_faults_fire_when_the_schedule_says(demo_output: str) -> None:
    header = re.search(r"^schedule: (.*) \(each fires within ([\d.]+) s", demo_output, re.M)
    assert header is not None, demo_output
    assert float(header.group(2)) == FIRE_TOLERANCE
    planned = {name: float(at) for name, at in re.findall(r"([\w-]+)@(\d+\.\d+)s", header[1])}
    assert sorted(planned) == sorted(SCHEDULES["default"])
    fired: dict[str, float] = {}
    for at, name in re.findall(r"^\[ *(\d+\.\d+)\] FAULT   ([\w-]+):", demo_output, re.M):
        fired.setdefault(name, float(at))  # a fault's first line is when it fired
    assert fired.keys() == planned.keys()
    for name, at in planned.items():
        # Never early (the header rounds to 0.01 s), at most FIRE_TOLERANCE late.
        assert at - 0.01 <= fired[name] <= at + FIRE_TOLERANCE, (name, at, fired[name])
    assert "note    WARNING" not in demo_output


@pytest.mark.loopback
def test_demo_summary_is_followed_by_the_legend(demo_output: str) -> None:
    summary_at = demo_output.index("\nsummary\n")
    tail = demo_output[summary_at + 1 :].splitlines()
    labels = [label for label, _ in LEGEND]
    assert [line.split(":")[0].strip() for line in tail[1 : len(labels) + 1]] == labels
    assert tail[len(labels) + 1 :] == legend_lines()
