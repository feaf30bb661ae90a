"""docs/cookbook.md runs: each program is saved under its title and run the way a user
would run it.

* The test suite of the page (``conftest.py``, ``test_market_bot.py``,
  ``test_approval_bot.py``) runs with the two bots in a separate pytest
  (``pytester``), and fails when a bot is broken the ways it guards against.
* ``market_bot.py``, ``approval_bot.py`` and ``feedcat.py`` run as programs
  (``python NAME ...``, a subprocess) against fake servers on 127.0.0.1; the console
  block of ``feedcat`` is run as shown, the port aside, and prints what it shows.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio_websocket
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import tether

from .docs_blocks import block, blocks

PAGE = "docs/cookbook.md"
PROGRAMS = ["market_bot.py", "approval_bot.py", "feedcat.py"]
SUITE = ["conftest.py", "test_market_bot.py", "test_approval_bot.py"]
CONSOLE = "A command-line tool"
SRC = Path(tether.__file__).resolve().parents[1]


def files() -> dict[str, str]:
    """The page's programs and test files by title."""
    return {name: block(PAGE, name) for name in [*PROGRAMS, *SUITE]}


def test_the_page_has_the_programs_it_promises() -> None:
    titled = [b.key for b in blocks(PAGE) if b.language == "python"]
    assert titled == [*PROGRAMS, *SUITE]
    assert files()["conftest.py"] == 'pytest_plugins = ["tether.testing.pytest_plugin"]\n'


# ------------------------------------------------------------------ the test suite


def run_suite(pytester: pytest.Pytester, programs: dict[str, str]) -> pytest.RunResult:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    for name, code in programs.items():
        pytester.path.joinpath(name).write_text(code, encoding="utf-8")
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=120)


def test_the_cookbook_test_suite_passes(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, files())
    result.assert_outcomes(passed=4)


def test_the_cookbook_test_suite_catches_broken_bots(pytester: pytest.Pytester) -> None:
    """A market bot that sends without waiting for the rate limit, or subscribes once
    instead of in ``on_connect``, and an agent that does not ask again after a
    reconnect, each fail the suite."""
    found = files()
    unlimited = found["market_bot.py"].replace("                await self.limit.wait()\n", "")
    subscribes_once = found["market_bot.py"].replace(
        "config=CONFIG, on_connect=self.subscribe, **options", "config=CONFIG, **options"
    )
    forgetful = found["approval_bot.py"].replace("on_connect=approvals.ask_again, ", "")
    assert unlimited != found["market_bot.py"] != subscribes_once
    assert forgetful != found["approval_bot.py"]
    failing = {
        "test_market_bot.py::test_subscribes_on_every_connection_and_stays_under_the_rate",
        "test_approval_bot.py::test_the_answer_given_during_an_outage_arrives[True]",
    }
    for market_bot in (unlimited, subscribes_once):
        broken = {**found, "market_bot.py": market_bot, "approval_bot.py": forgetful}
        result = run_suite(pytester, broken)
        failed = {line.split()[1] for line in result.outlines if line.startswith("FAILED ")}
        assert failing <= failed, result.stdout.str()


# ------------------------------------------------------------------ the programs


def save_programs(directory: Path) -> None:
    for name in PROGRAMS:
        directory.joinpath(name).write_text(block(PAGE, name), encoding="utf-8")


def environment() -> dict[str, str]:
    """This tether first on the path of the programs' Python."""
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


@asynccontextmanager
async def loopback(handler: Callable[[WebSocketRequest], Awaitable[None]]) -> AsyncIterator[int]:
    """``handler`` served on 127.0.0.1; yields the port. A client that leaves while the
    handler still sends ends that connection only (trio-websocket's server would stop)."""

    async def tolerant(request: WebSocketRequest) -> None:
        try:
            await handler(request)
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(serve_websocket, tolerant, "127.0.0.1", 0, ssl_context=None)
        )
        yield server.port
        nursery.cancel_scope.cancel()


class Program:
    """A program of the page running in a subprocess, its output collected."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.changed = trio.Event()

    async def collect(self, stream: trio.abc.ReceiveStream, into: bytearray) -> None:
        while chunk := await stream.receive_some():
            into.extend(chunk)
            self.changed.set()

    async def wait_for_output(self, text: str) -> None:
        while text not in self.stdout.decode():
            self.changed = trio.Event()
            await self.changed.wait()


@asynccontextmanager
async def program(directory: Path, *args: str) -> AsyncIterator[Program]:
    process = await trio.lowlevel.open_process(
        [sys.executable, *args],
        cwd=directory,
        env=environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    running = Program(process)
    async with trio.open_nursery() as nursery:
        assert process.stdout is not None and process.stderr is not None
        nursery.start_soon(running.collect, process.stdout, running.stdout)
        nursery.start_soon(running.collect, process.stderr, running.stderr)
        try:
            yield running
            await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def run(directory: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(30):
        return await trio.run_process(
            [sys.executable, *args],
            cwd=directory,
            env=environment(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


class Closes:
    """The close codes the clients sent, in order."""

    def __init__(self) -> None:
        self.codes: list[int] = []

    async def read_until_closed(self, ws: trio_websocket.WebSocketConnection) -> None:
        try:
            while True:
                await ws.get_message()
        except ConnectionClosed as closed:
            self.codes.append(closed.reason.code)


@pytest.mark.loopback
async def test_market_bot_runs_and_ctrl_c_closes_with_1001(tmp_path: Path) -> None:
    save_programs(tmp_path)
    closes = Closes()

    async def exchange(request: WebSocketRequest) -> None:
        ws = await request.accept()
        subscribe = json.loads(await ws.get_message())
        assert subscribe == {"op": "subscribe", "channels": ["trades.BTC-USD"]}
        await ws.send_message(json.dumps({"op": "subscribed"}))
        trade = {"op": "trade", "channel": "trades.BTC-USD", "price": 101.5}
        await ws.send_message(json.dumps(trade))
        await closes.read_until_closed(ws)

    with trio.fail_after(30):
        async with loopback(exchange) as port:
            url = f"ws://127.0.0.1:{port}/v1"
            async with program(tmp_path, "market_bot.py", url, "trades.BTC-USD") as bot:
                await bot.wait_for_output("trades.BTC-USD 101.5\n")
                bot.process.send_signal(signal.SIGINT)
    assert bot.process.returncode == 0, bot.stderr.decode()
    assert bot.stdout.decode() == "trades.BTC-USD 101.5\n"
    assert closes.codes == [1001]


@pytest.mark.loopback
@pytest.mark.parametrize("approved", [True, False])
async def test_approval_bot_runs_and_acts_only_when_approved(
    tmp_path: Path, approved: bool
) -> None:
    save_programs(tmp_path)
    asked: list[dict[str, str]] = []

    async def chat(request: WebSocketRequest) -> None:
        ws = await request.accept()
        question = json.loads(await ws.get_message())
        asked.append(question)
        answer = {"op": "answer", "id": question["id"], "approved": approved}
        await ws.send_message(json.dumps(answer))
        await Closes().read_until_closed(ws)

    async with loopback(chat) as port:
        url = f"ws://127.0.0.1:{port}/agent"
        done = await run(tmp_path, "approval_bot.py", url, "Deploy build 1234?")
    assert [(q["op"], q["text"]) for q in asked] == [("ask", "Deploy build 1234?")]
    if approved:
        assert (done.returncode, done.stdout) == (0, b"approved: deploying\n")
    else:
        assert (done.returncode, done.stdout) == (1, b"")
        assert done.stderr == b"not approved\n"


async def feed(request: WebSocketRequest) -> None:
    """The feed of the console block: ``/feed`` answers a subscription with prices;
    any other path is a 404."""
    if request.path != "/feed":
        await request.reject(404, body=b"no such feed")
        return
    ws = await request.accept()
    subscribe = json.loads(await ws.get_message())
    for price in (101.5, 101.25, 101.75):
        await ws.send_message(json.dumps({"channel": subscribe["channel"], "price": price}))
    await Closes().read_until_closed(ws)


def console_session() -> tuple[list[str], list[str], list[str]]:
    """The console block of feedcat: its command, the stdout and the stderr lines."""
    lines = block(PAGE, CONSOLE).splitlines()
    assert lines[0].startswith("$ ") and not any(line.startswith("$") for line in lines[1:])
    command = shlex.split(lines[0][2:])
    stderr = [line for line in lines[1:] if line.startswith("feedcat: ")]
    stdout = [line for line in lines[1:] if not line.startswith("feedcat: ")]
    return command, stdout, stderr


@pytest.mark.loopback
async def test_feedcat_prints_what_the_page_shows(tmp_path: Path) -> None:
    save_programs(tmp_path)
    command, stdout, stderr = console_session()
    assert command[:2] == ["python", "feedcat.py"]
    async with loopback(feed) as port:
        here = f"127.0.0.1:{port}"
        args = [arg.replace("127.0.0.1:8765", here) for arg in command[1:]]
        done = await run(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == stdout
    shown = [line.replace("127.0.0.1:8765", here) for line in stderr]
    assert done.stderr.decode().splitlines() == shown


@pytest.mark.loopback
async def test_feedcat_exit_statuses(tmp_path: Path) -> None:
    """2 for a refused handshake, 1 when it gives up, -v logs through ``tether``."""
    save_programs(tmp_path)
    async with loopback(feed) as port:
        rejected = await run(tmp_path, "feedcat.py", f"ws://127.0.0.1:{port}/nope")
        logged = await run(
            tmp_path,
            "feedcat.py",
            f"ws://127.0.0.1:{port}/feed",
            "--send",
            '{"op": "subscribe", "channel": "trades"}',
            "--count",
            "1",
            "-v",
        )
    with trio.socket.socket() as unused:
        await unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    unreachable = await run(
        tmp_path, "feedcat.py", f"ws://127.0.0.1:{closed_port}/", "--give-up-after", "0.5"
    )
    assert rejected.returncode == 2
    assert rejected.stderr.decode().splitlines()[-1] == "feedcat: rejected: HTTP 404"
    assert unreachable.returncode == 1
    assert "gave up" in unreachable.stderr.decode().splitlines()[-1]
    assert logged.returncode == 0 and logged.stdout.count(b"\n") == 1
    assert "feedcat: INFO connected to ws://127.0.0.1:" in logged.stderr.decode()


@pytest.mark.loopback
async def test_feedcat_ctrl_c_exits_130_after_closing_with_1001(tmp_path: Path) -> None:
    save_programs(tmp_path)
    closes = Closes()

    async def quiet(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("hello")
        await closes.read_until_closed(ws)

    with trio.fail_after(30):
        async with loopback(quiet) as port:
            url = f"ws://127.0.0.1:{port}/"
            async with program(tmp_path, "feedcat.py", url) as cat:
                await cat.wait_for_output("hello\n")
                cat.process.send_signal(signal.SIGINT)
    assert cat.process.returncode == 130
    assert closes.codes == [1001]
