"""``tether connect`` as a daily tool, driven in a real pseudo-terminal against a
trio-websocket echo server on 127.0.0.1 (tests/cli/terminal.py): markers,
``--timestamps``, ``-x`` re-sent every generation, ``/ping``, ``/reconnect``, ``/rotate``,
``/close``, ``/stats``, ``/help``, ``//``, ``--show-ping``, ``-v`` and ``-vv``; and the
end of a run whose stdin ended with an unreachable server.

``TETHER_WRITE_CAPTURE=1`` makes the session test write its screen to
``docs/_captures/connect-terminal.txt``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from .support import TETHER, WsServer, run_tether
from .terminal import Terminal, render

pytestmark = pytest.mark.loopback

CAPTURE = Path(__file__).resolve().parents[2] / "docs" / "_captures" / "connect-terminal.txt"
STAMP = r"\d\d:\d\d:\d\d\.\d\d\d"


@pytest.fixture
async def server(nursery: trio.Nursery) -> WsServer:
    server = WsServer()
    await server.start(nursery)
    return server


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def _open(terminals: list[Terminal], *args: str) -> Terminal:
    terminal = Terminal(["connect", *args])
    terminals.append(terminal)
    terminal.start()
    return terminal


async def test_a_terminal_session_with_markers_timestamps_execute_and_commands(
    server: WsServer, terminals: list[Terminal]
) -> None:
    term = _open(terminals, server.url, "--timestamps", "-x", '{"op":"subscribe"}')
    await term.expect(rf"^{STAMP} > \{{\"op\":\"subscribe\"\}}$")
    await term.expect(rf"^{STAMP} < \{{\"op\":\"subscribe\"\}}$")
    term.type("hello")
    # The typed line is replaced by its marked copy: "hello" alone is not on screen.
    await term.expect(rf"^{STAMP} < hello$")
    assert [line for line in term.screen.splitlines() if line.endswith("hello")] == [
        line for line in term.screen.splitlines() if line.endswith(("> hello", "< hello"))
    ]
    await term.expect(rf"^{STAMP} > hello$")
    term.type("/ping")
    (pong,) = await term.expect(rf"^{STAMP} \* pong: round trip (\d+\.\d\d) ms \(generation 1\)$")
    assert float(pong.group(1)) < 1000
    term.type("/stats")
    await term.expect(rf"^{STAMP} \* generation: 1$")
    await term.expect(rf"^{STAMP} \* messages_sent: 2$")  # -x and hello
    term.type("/reconnect")
    # Generation 2 gets the subscription again, first.
    await term.expect(rf"^{STAMP} > \{{\"op\":\"subscribe\"\}}$", count=2)
    await term.expect(rf"^{STAMP} < \{{\"op\":\"subscribe\"\}}$", count=2)
    await server.wait_for(lambda s: s.received.count('{"op":"subscribe"}') == 2)
    term.type("/stats")
    await term.expect(rf"^{STAMP} \* generation: 2$")
    term.type("/close 4000 done for today")
    assert await term.wait() == 0
    await server.wait_for(lambda s: 4000 in s.close_codes)
    assert server.received == ['{"op":"subscribe"}', "hello", '{"op":"subscribe"}']
    if os.environ.get("TETHER_WRITE_CAPTURE") == "1":
        CAPTURE.parent.mkdir(exist_ok=True)
        header = f'$ tether connect {server.url} --timestamps -x \'{{"op":"subscribe"}}\'\n'
        CAPTURE.write_text(header + term.screen)


async def test_help_and_a_double_slash_sends_a_literal_slash(
    server: WsServer, terminals: list[Terminal]
) -> None:
    term = _open(terminals, server.url)
    await term.expect(r"connected to")
    term.type("/help")
    await term.expect(r"^\* /ping: send a WebSocket ping, show the round trip$")
    await term.expect(r"^\* /close \[CODE \[REASON\]\]: close the session")
    term.type("/nonsense")
    await term.expect(r"^\* unknown command /nonsense")
    term.type("//not a command")
    await term.expect(r"^< /not a command$")
    assert server.received == ["/not a command"]
    term.type("/close")
    assert await term.wait() == 0
    assert server.close_codes == [1000]


async def test_rotate_opens_the_next_connection_before_closing_this_one(
    server: WsServer, terminals: list[Terminal]
) -> None:
    term = _open(terminals, server.url, "-x", "hi")
    await term.expect(r"^< hi$")
    term.type("/rotate")
    await term.expect(r"^tether: rotated \(rotate\(\)\): generation 2 took over from generation 1$")
    await term.expect(r"^< hi$", count=2)  # -x went on the new connection first
    term.type("/stats")
    await term.expect(r"^\* generation: 2$")
    await term.expect(r"^\* lost: -$")  # a rotation is not a loss
    term.type("/close")
    assert await term.wait() == 0
    assert server.close_codes == [1000, 1000]
    assert server.received == ["hi", "hi"]


async def test_json_on_a_terminal_is_indented_under_its_marker(
    server: WsServer, terminals: list[Terminal]
) -> None:
    term = _open(terminals, server.url, "--json", "--timestamps")
    await term.expect(r"connected to")
    term.type('{"op":"sub","topics":["a","b"]}')
    await term.expect(rf"^{STAMP} <$")
    await term.expect(r'^\{\n  "op": "sub",\n  "topics": \[\n    "a",\n    "b"\n  \]\n\}$')
    term.type("plain words")
    await term.expect(r'^"plain words"$')  # not JSON: shown as a JSON string
    term.type("/close")
    assert await term.wait() == 0
    assert server.received == ['{"op":"sub","topics":["a","b"]}', "plain words"]


async def test_show_ping_prints_pings_and_pongs_with_the_round_trip(
    server: WsServer, terminals: list[Terminal]
) -> None:
    term = _open(terminals, server.url, "--show-ping", "--ping-interval", "0.2")
    await term.expect(r"^\* > ping \(generation 1\)$", count=2)
    (pong, *_) = await term.expect(
        r"^\* < pong \(generation 1\), round trip (\d+\.\d\d) ms$", count=2
    )
    assert float(pong.group(1)) < 1000
    term.type("/close")
    assert await term.wait() == 0


async def test_verbose_shows_the_session_log_and_very_verbose_the_frames(
    server: WsServer, terminals: list[Terminal]
) -> None:
    info = _open(terminals, server.url, "-v")
    await info.expect(r"^tether: INFO gen 1 \[tether\] connected to ws://127\.0\.0\.1:\d+/ ")
    info.type("hi")
    await info.expect(r"^< hi$")
    info.type("/close")
    assert await info.wait() == 0
    await info.expect(r"^tether: INFO gen 1 \[tether\] closed \(code 1000\)$")
    assert "tether.protocol" not in info.screen
    assert "DEBUG" not in info.screen

    debug = _open(terminals, server.url, "-vv")
    await debug.expect(r"^tether: DEBUG gen 1 \[tether\] connecting to ")
    await debug.expect(
        r"^tether: DEBUG gen 1 \[tether\.protocol\] > GET / HTTP/1\.1; headers: Host"
    )
    await debug.expect(r"^tether: DEBUG gen 1 \[tether\.protocol\] < HTTP/1\.1 101; headers: ")
    debug.type("secret-payload")
    await debug.expect(r"^tether: DEBUG gen 1 \[tether\.protocol\] > TEXT length=14 fin=1 rsv=000$")
    await debug.expect(r"^tether: DEBUG gen 1 \[tether\.protocol\] < TEXT length=14 fin=1 rsv=000$")
    debug.type("/close")
    assert await debug.wait() == 0
    # The payload is on screen as the message sent and received, never in a log line.
    assert not [
        line for line in debug.screen.splitlines() if "secret-payload" in line and "tether:" in line
    ]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_stdin_at_its_end_and_an_unreachable_server_ends_after_the_budget() -> None:
    started = time.monotonic()
    result = await run_tether("connect", f"ws://127.0.0.1:{_closed_port()}/", "--eof-timeout", "1")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert (
        b"tether: gave up: no connection within 1 s and standard input has ended with "
        b"nothing to send (--eof-timeout)" in result.stderr
    )
    assert result.stdout == b""
    assert 1 <= elapsed < 10  # the budget, plus starting Python


async def test_lines_left_to_send_keep_the_session_trying_past_the_budget(
    nursery: trio.Nursery,
) -> None:
    # stdin ended but a line waits: the budget does not apply; the server comes up
    # after it and the line goes out.
    server = WsServer()
    server.port = _closed_port()
    command = [*TETHER, "connect", server.url, "--eof-timeout", "0.5", "-q"]
    process: trio.Process = await nursery.start(
        functools.partial(trio.run_process, command, stdin=b"queued\n", check=False)
    )
    with trio.fail_after(20):
        # Not a wait for something to happen: 1.5 s must pass, three budgets, and the
        # process must still be trying when they have.
        await trio.sleep(1.5)
        assert process.poll() is None
        await server.start(nursery)
        await server.wait_for(lambda s: s.received == ["queued"])
        assert await process.wait() == 0


def test_render_applies_the_erase_and_drops_colours() -> None:
    raw = "hello\r\n\x1b[1A\x1b[2K> hello\r\n\x1b[1;31mtether: x\x1b[0m\r\n"
    assert render(raw) == "> hello\ntether: x\n"
