"""``tether proxy`` end to end: the proxy in a subprocess between an echo server and a
tether session in this process; plus its argument checks."""

from __future__ import annotations

import argparse
import re
import socket

import pytest
import trio

import tether
from tether import LostReason, cli, events
from tether.cli._proxy import parse_address, parse_upstream

from ..helpers import EventLog
from .support import Cli, WsServer, run_tether

pytestmark = pytest.mark.loopback


async def test_drops_on_schedule_and_the_session_recovers(nursery: trio.Nursery) -> None:
    server = WsServer()
    await server.start(nursery)
    proxy = await Cli.start(
        nursery, "proxy", "--upstream", server.url, "--drop-every", "0.6", "--duration", "2.5"
    )
    match = await proxy.wait_stdout(r"listening on 127\.0\.0\.1:(\d+), forwarding to")
    url = f"ws://127.0.0.1:{match.group(1)}/"
    log = EventLog()
    config = tether.Config(backoff=tether.Backoff(initial=0.05, maximum=0.2))
    async with tether.connect(url, config=config, on_event=log) as session:
        with trio.fail_after(10):
            await log.wait_count(events.ConnectionLost, 1)
            await log.wait_count(events.Connected, 2)
        await session.send("still here")
        assert await session.receive() == "still here"
    assert log.of(events.ConnectionLost)[0].reason is LostReason.TRANSPORT_ERROR

    assert await proxy.wait() == 0  # --duration
    out = proxy.stdout
    assert "faults: drop every 0.6 s" in out
    assert "FAULT drop: reset 1 connection(s)" in out
    assert re.search(r"connections: accepted [2-9]", out)  # the reconnect went through it
    assert "stopping after 2.5 s" in out


async def test_stall_and_down_timers_print_their_faults(nursery: trio.Nursery) -> None:
    server = WsServer()
    await server.start(nursery)
    result = await run_tether(
        "proxy",
        "--upstream",
        f"127.0.0.1:{server.port}",
        "--stall-after",
        "0.3",
        "--stall-for",
        "0.3",
        "--down-every",
        "0.5",
        "--down-for",
        "0.2",
        "--duration",
        "1.2",
    )
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "FAULT stall: forwarding stopped for 0.3 s" in out
    assert "FAULT stall: resumed forwarding" in out
    assert "FAULT down: not listening (connects refused) for 0.2 s" in out
    assert "FAULT down: listening again on port" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream", "ws://10.1.2.3:80"], "10.1.2.3 is not a loopback address"),
        (["--upstream", "ws://example.com:80"], "'example.com' is not a loopback address"),
        (["--upstream", "ws://127.0.0.1:1", "--listen", "0.0.0.0:9000"], "not a loopback"),
        (["--upstream", "ws://127.0.0.1:1", "--stall-for", "1"], "--stall-for needs --stall-after"),
        (["--upstream", "ws://127.0.0.1:1", "--drop-every", "0"], "must be a positive number"),
        (["--listen", "127.0.0.1:9000"], "--upstream"),
    ],
)
async def test_bad_arguments_exit_2(args: list[str], message: str) -> None:
    result = await run_tether("proxy", *args)
    assert result.returncode == 2
    assert message in result.stderr.decode()


def test_address_parsing() -> None:
    assert parse_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:0") == ("::1", 0)
    assert parse_address("localhost:80") == ("127.0.0.1", 80)
    assert parse_upstream("ws://127.0.0.2:8765/feed") == ("127.0.0.2", 8765)
    assert parse_upstream("wss://localhost/") == ("127.0.0.1", 443)
    assert parse_upstream("ws://127.0.0.1") == ("127.0.0.1", 80)
    for bad in ["127.0.0.1", "127.0.0.1:99999", "http://127.0.0.1:1", ":80"]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_upstream(bad)
    with pytest.raises(argparse.ArgumentTypeError, match=r"^bad port in '127\.0\.0\.1:http'$"):
        parse_address("127.0.0.1:http")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^bad port in 'ws://127\.0\.0\.1:x/'$"):
        parse_upstream("ws://127.0.0.1:x/")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--drop-every", "soon"], "argument --drop-every: not a number of seconds: 'soon'"),
        (["--down-for", "1"], "--down-for needs --down-every"),
        (["--listen", "127.0.0.1:http"], "argument --listen: bad port in '127.0.0.1:http'"),
    ],
)
def test_bad_arguments_in_process_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["proxy", "--upstream", "ws://127.0.0.1:1", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


async def test_a_stall_without_stall_for_lasts_until_the_proxy_stops(
    nursery: trio.Nursery,
) -> None:
    server = WsServer()
    await server.start(nursery)
    upstream = f"127.0.0.1:{server.port}"
    args = ("--upstream", upstream, "--stall-after", "0.2", "--duration", "1")
    result = await run_tether("proxy", *args)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "faults: stall after 0.2 s\n" in out
    # One stall, never resumed: not one every 0.2 s.
    assert re.findall(r"FAULT stall: .*", out) == [
        "FAULT stall: forwarding stopped until the proxy stops; TCP connections stay up"
    ]


async def test_a_port_in_use_exits_1_saying_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await run_tether(
            "proxy", "--listen", f"127.0.0.1:{port}", "--upstream", "127.0.0.1:1"
        )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"tether proxy: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    assert result.stdout == b""
