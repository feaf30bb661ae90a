"""``tether connect`` end to end: a ``python -m tether`` subprocess against an echo
server on 127.0.0.1 (in this process), over pipes. Each test takes about a second of
real time at most (interpreter start, plus ``--wait 0.5`` where echoes are awaited)."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
import trio

from tether import cli
from tether.cli.connect import runner as connect_runner

from .support import TETHER, TIMEOUT, Cli, WsServer, run_tether, tether_env

pytestmark = pytest.mark.loopback


@pytest.fixture
async def server(nursery: trio.Nursery) -> WsServer:
    server = WsServer()
    await server.start(nursery)
    return server


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ------------------------------------------------------------------ endings


async def test_piped_lines_are_echoed_and_the_session_closes_normally(server: WsServer) -> None:
    result = await run_tether(
        "connect", server.url, "--wait", "0.5", stdin=b"alpha\nbeta\n\ngamma\n"
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().splitlines() == ["alpha", "beta", "gamma"]
    await server.wait_for(lambda s: bool(s.close_codes))
    assert server.received == ["alpha", "beta", "gamma"]  # the blank line is skipped
    assert server.close_codes == [1000]
    status = result.stderr.decode()
    assert f"connecting to {server.url} (generation 1, attempt 1)" in status
    assert f"connected to {server.url} (generation 1)" in status
    assert "closed (code 1000)" in status


async def test_end_of_input_flushes_before_closing(server: WsServer) -> None:
    lines = [f"line {n}" for n in range(200)]
    result = await run_tether("connect", server.url, "-q", stdin="\n".join(lines).encode())
    assert result.returncode == 0, result.stderr.decode()
    await server.wait_for(lambda s: bool(s.close_codes))
    assert server.received == lines  # the last line has no newline and is still sent
    assert result.stderr == b""  # --quiet


async def test_json_output_is_one_valid_json_value_per_line(server: WsServer) -> None:
    stdin = b'{"op": "sub", "topics": ["a", "b"]}\nnot json\n[1, 2.5, null]\n'
    result = await run_tether("connect", server.url, "--json", "--wait", "0.5", stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert lines[0] == '{"op":"sub","topics":["a","b"]}'  # compact when not a TTY
    assert [json.loads(line) for line in lines] == [
        {"op": "sub", "topics": ["a", "b"]},
        "not json",
        [1, 2.5, None],
    ]


async def test_binary_hex_lines(server: WsServer) -> None:
    result = await run_tether(
        "connect", server.url, "--binary", "--wait", "0.5", stdin=b"68 65 6c6c6f\nzz\n00ff\n"
    )
    assert result.returncode == 0, result.stderr.decode()
    await server.wait_for(lambda s: bool(s.close_codes))
    assert server.received == [b"hello", b"\x00\xff"]
    assert result.stdout.decode().splitlines() == ["68656c6c6f", "00ff"]
    assert "line 2 skipped: not valid hex" in result.stderr.decode()


async def test_binary_base64_lines(server: WsServer) -> None:
    result = await run_tether(
        "connect",
        server.url,
        "--binary",
        "--input-format",
        "base64",
        "--wait",
        "1",
        stdin=b"aGVsbG8=\n",
    )
    assert result.returncode == 0, result.stderr.decode()
    await server.wait_for(lambda s: bool(s.close_codes))
    assert server.received == [b"hello"]
    assert result.stdout.decode().splitlines() == ["aGVsbG8="]


async def test_commands_over_a_pipe_with_commands_and_sent_as_is_without(
    nursery: trio.Nursery, server: WsServer
) -> None:
    tether = await Cli.start(nursery, "connect", server.url, "--commands")
    await tether.send_line("/stats")
    # No terminal: the results are status lines on stderr; stdout has the echo alone.
    await tether.wait_stderr(r"tether: generation: 1\n")
    await tether.send_line("//escaped")
    await tether.wait_stdout_lines(1)
    await tether.send_line("/close 4000 piped")
    assert await tether.wait() == 0
    assert tether.stdout == "/escaped\n"
    await server.wait_for(lambda s: bool(s.close_codes))
    assert (server.received, server.close_codes) == (["/escaped"], [4000])

    result = await run_tether("connect", server.url, "--no-commands", "-q", stdin=b"/stats\n")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    await server.wait_for(lambda s: len(s.close_codes) == 2)
    assert server.received == ["/escaped", "/stats"]  # the default on a pipe too


async def test_a_reader_of_stdout_that_goes_away_ends_the_run_quietly(
    nursery: trio.Nursery, server: WsServer
) -> None:
    """``tether connect URL | head -1``: once stdout's reader has gone, the next write
    fails (EPIPE); the run stops reading, closes the session and exits 0, with no
    traceback from the failed write or the interpreter's last flush."""
    process = await trio.lowlevel.open_process(
        [*TETHER, "connect", server.url, "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=tether_env(),
    )
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    try:
        with trio.fail_after(TIMEOUT):
            await process.stdin.send_all(b"first\n")
            assert await process.stdout.receive_some() == b"first\n"
            await process.stdout.aclose()  # as head -1 does once it has its line
            await process.stdin.send_all(b"second\n")
            await server.wait_for(lambda s: bool(s.close_codes))
            stderr = b""
            while chunk := await process.stderr.receive_some():
                stderr += chunk
            assert await process.wait() == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    assert stderr == b""
    assert server.received == ["first", "second"]
    assert server.close_codes == [1000]


async def test_eof_timeout_off_leaves_the_end_to_the_retry_policy() -> None:
    url = f"ws://127.0.0.1:{closed_port()}/"
    result = await run_tether("connect", url, "--eof-timeout", "off", "--max-attempts", "2")
    assert result.returncode == 1
    status = result.stderr.decode()
    assert "attempt 2" in status and "gave up: ConnectionRefusedError" in status
    assert "--eof-timeout" not in status


async def test_rejected_handshake_exits_3(server: WsServer) -> None:
    result = await run_tether("connect", server.url + "reject", stdin=b"never sent\n")
    assert result.returncode == 3
    assert "handshake rejected: HTTP 401: token required" in result.stderr.decode()
    assert server.received == []


async def test_giving_up_exits_1() -> None:
    url = f"ws://127.0.0.1:{closed_port()}/"
    result = await run_tether("connect", url, "--max-attempts", "2", stdin=b"hello\n")
    assert result.returncode == 1
    status = result.stderr.decode()
    assert "backing off" in status
    assert "attempt 2" in status
    assert "gave up: ConnectionRefusedError" in status


async def test_giving_up_quietly_still_says_why() -> None:
    url = f"ws://127.0.0.1:{closed_port()}/"
    result = await run_tether("connect", url, "--max-attempts", "1", "-q")
    assert result.returncode == 1
    [line] = result.stderr.decode().splitlines()  # no event lines, one reason
    assert line.startswith("tether: gave up: ConnectionRefusedError")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no URL"),
        (["http://127.0.0.1:1/"], "ConfigError: "),
        (["ws://127.0.0.1:1/", "--ping-interval", "soon"], "--ping-interval"),
        (["ws://127.0.0.1:1/", "--ping-interval", "-1"], "ping_interval: must be > 0"),
        (["ws://127.0.0.1:1/", "-H", "no colon"], "expected 'Name: value'"),
        (["ws://127.0.0.1:1/", "--input-format", "rot13"], "invalid choice"),
    ],
)
async def test_bad_arguments_exit_2(args: list[str], message: str) -> None:
    result = await run_tether("connect", *args)
    assert result.returncode == 2
    assert message in result.stderr.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wait", "soon"], "argument --wait: not a number of seconds: 'soon'"),
        (["--wait", "-1"], "argument --wait: must be >= 0 seconds: '-1'"),
        (["--wait", "inf"], "argument --wait: must be >= 0 seconds: 'inf'"),
        (["--max-attempts", "many"], "argument --max-attempts: not an integer: 'many'"),
    ],
)
def test_bad_numbers_exit_2_in_process(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["connect", "ws://127.0.0.1:1/", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


async def test_a_bad_config_file_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('ping_interval = 5\n[backoff]\ninitial = "fast"\n')
    result = await run_tether("connect", "ws://127.0.0.1:1/", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.decode() == (
        f"tether: ConfigError: {path}: backoff.initial: expected a number, got 'fast'\n"
    )
    path.write_text("pingg_interval = 5\n")
    result = await run_tether("connect", "ws://127.0.0.1:1/", "--config", str(path))
    assert result.returncode == 2
    assert "pingg_interval: unknown key (did you mean ping_interval?)" in result.stderr.decode()


async def test_ctrl_c_closes_with_1001_and_exits_130(
    nursery: trio.Nursery, server: WsServer
) -> None:
    tether = await Cli.start(nursery, "connect", server.url)
    await tether.wait_stderr("connected to")
    await tether.send_line("hello")
    await tether.wait_stdout_lines(1)
    tether.process.send_signal(signal.SIGINT)
    assert await tether.wait() == 130
    await server.wait_for(lambda s: bool(s.close_codes))
    assert server.close_codes == [1001]
    assert "interrupted: closing the session" in tether.stderr
    assert "closed (code 1001)" in tether.stderr


async def test_insecure_warns_loudly(server: WsServer) -> None:
    result = await run_tether("connect", server.url, "--insecure", "-q", stdin=b"x\n")
    assert result.returncode == 0
    assert "WARNING: --insecure: TLS certificates and host names are NOT verified" in (
        result.stderr.decode()
    )


# ---------------------------------------------------- configuration and handshake


async def test_config_file_connect_table_and_overrides(server: WsServer, tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        "ping_interval = 7\n"
        "[connect]\n"
        f'url = "{server.url}chat"\n'
        'headers = { Authorization = "Bearer file", X-Client = "tether" }\n'
        'subprotocols = ["v2.chat", "v1.chat"]\n'
    )
    result = await run_tether(
        "connect",
        "--config",
        str(path),
        "-H",
        "Authorization: Bearer cli",
        "--ping-interval",
        "off",
        "--wait",
        "1",
        stdin=b"hi\n",
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"hi\n"
    [(path_seen, headers, subprotocols)] = server.handshakes
    assert path_seen == "/chat"
    assert headers["authorization"] == "Bearer cli"  # the command line wins
    assert headers["x-client"] == "tether"
    assert subprotocols == ["v2.chat", "v1.chat"]


# ----------------------------------------------------------- the session survives


async def test_server_restart_keeps_the_session_and_the_order(
    nursery: trio.Nursery, server: WsServer, tmp_path: Path
) -> None:
    config = tmp_path / "fast.toml"
    config.write_text("[backoff]\ninitial = 0.05\nmaximum = 0.2\n")
    tether = await Cli.start(nursery, "connect", server.url, "--config", str(config))
    await tether.wait_stderr(r"connected to \S+ \(generation 1\)")
    before = [f"before-{n}" for n in range(3)]
    for line in before:
        await tether.send_line(line)
    await tether.wait_stdout_lines(3)

    server.stop()  # connections dropped, connects refused
    await tether.wait_stderr(r"connection lost \(generation 1\)")
    await tether.wait_stderr("backing off .* ConnectionRefusedError")
    during = [f"during-{n}" for n in range(5)]
    for line in during:
        await tether.send_line(line)
    # The lines wait through at least one more refused attempt (they are not written
    # into the dead connection, nor dropped), then go out in order on generation 2.
    refusal = "backing off .* ConnectionRefusedError"
    await tether.wait_stderr_count(refusal, len(re.findall(refusal, tether.stderr)) + 1)

    await server.start(nursery)  # the same port
    await tether.wait_stderr(r"connected to \S+ \(generation 2\)")
    assert await tether.wait_stdout_lines(8) == before + during
    await server.wait_for(lambda s: len(s.received) == 8)
    assert server.received == before + during

    await tether.send_line("after")
    await tether.wait_stdout_lines(9)
    await tether.close_stdin()
    assert await tether.wait() == 0
    assert tether.stdout_lines == [*before, *during, "after"]
    await server.wait_for(lambda s: bool(s.close_codes))
    assert server.close_codes == [1000]  # generation 1's handler was cancelled, not closed


# ------------------------------------------------------------------------ help


@pytest.mark.parametrize("command", ["connect", "demo", "proxy"])
def test_every_subcommand_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out
    assert f"tether {command} " in out


def test_ctrl_c_outside_the_trio_run_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the run has its Ctrl-C handler (imports, reading --config) or after it:
    130, the same status, and no traceback."""

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(connect_runner, "run_from_args", interrupted)
    assert cli.main(["connect", "ws://127.0.0.1:1/"]) == 130
    assert capsys.readouterr() == ("", "")


def test_top_level_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for line in ["0    success", "1    gave up", "2    bad arguments", "3    handshake", "130"]:
        assert line in out
    for command in ["connect", "demo", "proxy"]:
        assert command in out


SECRET = "s3cr3t-t0ken-4f9a"


@pytest.mark.parametrize(
    "header",
    [
        f"Authorization Bearer {SECRET}",  # no colon: the whole entry is refused
        f"Authorization Bearer {SECRET}: x",  # a space in the name
        f"Authorization: Bearer {SECRET}\x00",  # a NUL in the value: connect() refuses it
        f"Authorization: Bearer {SECRET}\u20ac",  # not Latin-1
    ],
)
def test_a_bad_header_exits_2_without_echoing_its_value(
    header: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = cli.main(["connect", "ws://127.0.0.1:1/", "-q", "-H", header])
    except SystemExit as exit:
        status = exit.code  # argparse refused it
    assert status == 2
    captured = capsys.readouterr()
    assert "header" in captured.err
    if header.partition(":")[0].strip().isidentifier():
        assert "'Authorization'" in captured.err  # a valid name is named
    assert SECRET not in captured.err + captured.out


@pytest.mark.parametrize(
    ("args", "user_agent", "origin"),
    [
        ([], "default", None),
        (
            ["--user-agent", "bot/1", "--origin", "https://app.example"],
            "bot/1",
            "https://app.example",
        ),
        (["--user-agent", ""], None, None),
    ],
    ids=["defaults", "given", "no-user-agent"],
)
async def test_user_agent_and_origin_options(
    server: WsServer, args: list[str], user_agent: str | None, origin: str | None
) -> None:
    from tether.policy import DEFAULT_USER_AGENT

    result = await run_tether("connect", server.url, *args, "--ping-interval", "off")
    assert result.returncode == 0, result.stderr.decode()
    [(_, headers, _)] = server.handshakes
    expected = DEFAULT_USER_AGENT if user_agent == "default" else user_agent
    assert headers.get("user-agent") == expected
    assert headers.get("origin") == origin
