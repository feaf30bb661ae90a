"""tether.cli.connect.stdin in this process: lines into a session whose send buffer is
full (overflow ``raise``), on the in-memory server and the virtual clock; a bad base64
line; a stdin that fails to read. End to end over pipes: tests/cli/test_connect.py."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import trio

import tether
from tether import Backoff, Config, Overflow
from tether.cli.connect.output import Status
from tether.cli.connect.stdin import decode_line, read_lines, send_lines
from tether.testing import memory_server

URL = "ws://stdin.test/"


async def test_lines_refused_by_a_full_buffer_are_warned_about_and_not_shown_as_sent(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Regression: a line the full buffer refused (``overflow = "raise"``) used to be
    shown as sent (``> line`` on a terminal) right after the warning that it was not."""
    config = Config(
        ping_interval=None,
        send_buffer=2,
        overflow=Overflow.RAISE,
        backoff=Backoff(initial=1, maximum=1, jitter=False),
    )
    stderr = io.StringIO()
    sent: list[str | bytes] = []
    async with (
        memory_server() as server,
        tether.connect(URL, config=config, opener=server.opener) as session,
    ):
        server.go_down()  # nothing is written: the buffer fills
        await trio.sleep(0.5)
        send_channel, receive_channel = trio.open_memory_channel[bytes](8)
        for line in (b"one", b"two", b"three", b"four"):
            send_channel.send_nowait(line)
        send_channel.close()
        await send_lines(
            session,
            receive_channel,
            lambda raw: decode_line(raw),
            Status(stream=stderr),
            on_sent=sent.append,
        )
        assert sent == ["one", "two"]
        assert stderr.getvalue() == (
            "tether: send buffer full (overflow = raise): a line was not sent\n" * 2
        )
        server.come_back()
        await server.wait_connections(2)
        await session.aclose()
    assert server.connections[-1].messages == ["one", "two"]


def test_a_bad_binary_line_says_which_encoding() -> None:
    assert decode_line(b"AQI=", binary=True, input_format="base64") == b"\x01\x02"
    with pytest.raises(ValueError, match=r"^not valid base64$"):
        decode_line(b"AQI", binary=True, input_format="base64")  # no padding
    with pytest.raises(ValueError, match=r"^not valid hex$"):
        decode_line(b"0x01", binary=True)


async def test_a_stdin_that_fails_to_read_is_its_end(tmp_path: Path) -> None:
    """A terminal that went away reads with an error (EIO); a directory does as well
    (EISDIR): the lines end there, without a traceback."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        send_channel, receive_channel = trio.open_memory_channel[bytes](8)
        with trio.fail_after(5):
            await read_lines(fd, send_channel)
            assert [line async for line in receive_channel] == []
    finally:
        os.close(fd)


async def test_the_last_line_without_a_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "lines"
    path.write_bytes(b"a\nb\n\nc")
    fd = os.open(path, os.O_RDONLY)
    seen: list[bytes] = []
    try:
        send_channel, receive_channel = trio.open_memory_channel[bytes](8)
        with trio.fail_after(5):
            await read_lines(fd, send_channel, on_line=seen.append)
            assert [line async for line in receive_channel] == [b"a", b"b", b"", b"c"]
    finally:
        os.close(fd)
    assert seen == [b"a", b"b", b""]  # on_line: each complete line, as it is read
