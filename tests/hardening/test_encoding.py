"""Issue 10, item 2: a message UTF-8 cannot encode fails its own caller, in the caller's
task, whichever path it takes; the session and the messages queued behind it go on."""

from __future__ import annotations

import json

import pytest
import trio

import tether
from tether import Backoff, Config
from tether.testing import MemoryServer, memory_server

from ..helpers import silent

URL = "ws://tether.test/"
QUIET = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=8, jitter=False))
#: What ``JSON.stringify`` in a browser can hand over: half of a surrogate pair.
LONE_SURROGATE = json.loads('"\\ud83d"')


def received(server: MemoryServer) -> list[str | bytes]:
    return [message for record in server.connections for message in record.messages]


async def test_send_nowait_refuses_it_and_the_queue_behind_it_is_written(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):  # on a broken session, fail instead of waiting for ever
        await _send_nowait_scenario()


async def _send_nowait_scenario() -> None:
    async with memory_server(silent) as server:
        async with tether.connect(URL, config=QUIET, opener=server.opener) as session:
            session.send_nowait("before")
            with pytest.raises(UnicodeEncodeError):
                session.send_nowait(LONE_SURROGATE)
            session.send_nowait("after")
            await trio.sleep(1)
            assert session.state is tether.State.OPEN
            assert session.generation == 1
        assert received(server) == ["before", "after"]


async def test_send_while_reconnecting_raises_to_that_caller_alone(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        await _reconnecting_scenario()


async def _reconnecting_scenario() -> None:
    async with memory_server(silent) as server:
        async with tether.connect(URL, config=QUIET, opener=server.opener) as session:
            server.go_down()
            await trio.sleep(0.5)
            session.send_nowait("queued")
            with pytest.raises(UnicodeEncodeError):
                await session.send("bad " + LONE_SURROGATE)
            server.come_back()
            await session.wait_connected()
            await session.send("é, then more")  # non-ASCII text that UTF-8 can encode
            assert session.statistics().attempts >= 2
        assert received(server) == ["queued", "é, then more"]
