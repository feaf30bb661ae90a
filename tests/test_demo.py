"""``tether demo`` and the ``tether`` command.

The end-to-end test runs ``python -m tether demo`` in a subprocess over real loopback
sockets (about 10 s of real time); the rest are fast: argument parsing, the schedule
planner, the message ledger and the output formatting.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import trio
import trio.testing

from tether import cli
from tether.cli._format import describe_error
from tether.cli.demo.ledger import Ledger
from tether.cli.demo.report import Reporter, Summary
from tether.cli.demo.scenario import SCHEDULES, plan
from tether.events import ConnectionLost, LostReason


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


@pytest.mark.loopback
def test_demo_survives_the_default_schedule() -> None:
    result = run_tether("demo", "--duration", "8", "--plain", timeout=90)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr

    reconnects = re.fullmatch(r"(\d+) \((.*)\)", summary_field(output, "reconnects"))
    assert reconnects is not None
    causes = dict(item.split(": ") for item in reconnects.group(2).split(", "))
    assert int(reconnects.group(1)) >= 4
    assert len(causes) >= 3
    assert {"transport_error", "peer_closed", "ping_timeout"} <= set(causes)
    assert summary_field(output, "lost") == "0"
    assert summary_field(output, "result") == "OK"

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
    assert int(summary_field(out, "messages sent")) > 0


def test_plan_spreads_the_default_schedule_over_the_duration() -> None:
    steps = plan(SCHEDULES["default"], duration=12.0, seed=3)
    assert sorted(step.name for step in steps) == sorted(SCHEDULES["default"])
    times = [step.at for step in steps]
    assert times == sorted(times)
    assert times[0] > 0
    assert times[-1] < 12.0
    assert plan(SCHEDULES["default"], duration=12.0, seed=3) == steps  # repeatable


def test_ledger_counts_duplicates_out_of_order_and_lost() -> None:
    ledger = Ledger()
    for _ in range(4):
        ledger.wrote(ledger.submit())
    for message in ["msg-1", "msg-3", "msg-2", "msg-3", "hello"]:
        ledger.record_echo(message)
    assert (ledger.duplicates, ledger.out_of_order, ledger.unexpected) == (1, 1, 1)
    assert ledger.unacknowledged() == [4]
    assert ledger.lost() == 1
    ledger.record_echo("msg-4")
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
        sent=10,
        echoed=9,
        duplicates=0,
        replayed=0,
        lost=1,
        out_of_order=0,
        unexpected=0,
        error=None,
    )
    reporter.summary(summary)
    text = "\n".join(lines)
    assert summary_field(text, "reconnects") == "5 (peer_closed: 2, transport_error: 3)"
    assert summary_field(text, "result") == "FAILED"
    assert not summary.ok


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
    for message in ["msg-1", "msg-2"]:
        ledger.record_echo(message)
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
        sent=3,
        echoed=2,
        duplicates=0,
        replayed=0,
        lost=ledger.lost(),
        never_returned=ledger.never_returned(),
        out_of_order=0,
        unexpected=0,
        error=None,
    )
    Reporter(lines.append).summary(summary)
    text = "\n".join(lines)
    assert summary_field(text, "lost") == "1 (1 never returned from send())"
    assert summary_field(text, "result") == "FAILED"
    ledger.record_echo("msg-3")  # its echo came after all: nothing lost
    assert (ledger.lost(), ledger.never_returned()) == (0, 0)


async def test_ledger_waits_for_echoes() -> None:
    ledger = Ledger()
    ledger.wrote(ledger.submit())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ledger.wait_all_echoed)
        await trio.testing.wait_all_tasks_blocked()
        ledger.record_echo("msg-1")
