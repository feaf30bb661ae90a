"""Resumable reconnects (issue 11 item 5): the close code a superseded connection gets.

``session.reconnect(code=...)`` picks it for that reconnect; ``Config.supersede_close_code``
for the supersedes the session decides itself (the idle timeout). A server that keeps a
session resumable unless it was closed with 1000 or 1001 (Discord's gateway) needs one
of 4000-4999. Each server-side ``close_code`` is the code of the Close frame the memory
server received."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import tether
from tether import Config, events
from tether.events import LostReason
from tether.testing import memory_server

from .helpers import EventLog, silent

URL = "ws://tether.test/"
QUIET = Config(ping_interval=None)


async def test_reconnect_closes_the_old_connection_with_the_code_asked(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=QUIET, opener=server.opener, on_event=log) as session,
        ):
            await trio.sleep(1)
            session.reconnect("resume", code=4000)
            await server.wait_connections(2)
            await server.wait_closed(1)
            session.reconnect()  # the default is still 1000
            await server.wait_connections(3)
            await server.wait_closed(2)
    assert [c.close_code for c in server.connections] == [4000, 1000, 1000]
    assert [c.closed_by for c in server.connections[:2]] == ["client", "client"]
    lost = log.of(events.ConnectionLost)
    assert [(e.at, e.reason, e.detail) for e in lost] == [
        (1, LostReason.SUPERSEDED, "resume"),
        (1, LostReason.SUPERSEDED, "reconnect() called"),
    ]
    assert [e.at for e in log.of(events.Connected)] == [0, 1, 1]


@pytest.mark.parametrize("code", [1005, 1006, 999, 5000, 2999, 1015, True, "4000", 4000.0])
async def test_reconnect_with_a_code_that_may_not_be_sent_raises_and_changes_nothing(
    autojump_clock: trio.abc.Clock, code: object
) -> None:
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=QUIET, opener=server.opener, on_event=log) as session,
        ):
            with pytest.raises(tether.ConfigError, match=r"^code: "):
                session.reconnect(code=code)  # type: ignore[arg-type]
            await trio.sleep(5)
            assert session.generation == 1
            assert session.state is tether.State.OPEN
    assert len(server.connections) == 1
    assert server.connections[0].close_code == 1000  # the exit's close
    assert log.of(events.ConnectionLost) == []


async def test_supersede_close_code_closes_an_idle_connection_with_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = Config(ping_interval=None, idle_timeout=10, supersede_close_code=4000)
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server(silent) as server,
            tether.connect(URL, config=config, opener=server.opener, on_event=log),
        ):
            lost = await log.wait_count(events.ConnectionLost, 1)
            await server.wait_closed(1)
            await server.wait_connections(2)
    assert (lost.at, lost.reason) == (10, LostReason.IDLE_TIMEOUT)
    assert server.connections[0].close_code == 4000
    assert server.connections[0].closed_by == "client"
    assert server.connections[1].close_code == 1000  # aclose() on exit keeps its own


async def test_supersede_close_code_does_not_change_what_reconnect_sends(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = Config(ping_interval=None, supersede_close_code=4000)
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=config, opener=server.opener) as session,
        ):
            session.reconnect()
            await server.wait_connections(2)
            await server.wait_closed(1)
    assert server.connections[0].close_code == 1000


#: RFC 6455 section 7.4: what an endpoint may send (1004-1006 and 1015 never; 1016-2999
#: reserved; 3000-4999 for libraries and applications), written out as the oracle.
MAY_SEND = {1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)}


def test_supersede_close_code_accepts_exactly_the_codes_an_endpoint_may_send() -> None:
    for code in range(5200):
        if code in MAY_SEND:
            assert Config(supersede_close_code=code).supersede_close_code == code
        else:
            with pytest.raises(tether.ConfigError) as raised:
                Config(supersede_close_code=code)
            assert str(raised.value).startswith(f"supersede_close_code: {code} cannot be sent")
    assert Config().supersede_close_code == 1000
    for bad in (True, "4000", 4000.0, None):
        with pytest.raises(tether.ConfigError, match=r"^supersede_close_code: must be an int"):
            Config(supersede_close_code=bad)  # type: ignore[arg-type]


def test_supersede_close_code_loads_from_toml() -> None:
    assert Config.from_toml("supersede_close_code = 4000").supersede_close_code == 4000
    with pytest.raises(tether.ConfigError, match="supersede_close_code"):
        Config.from_toml("supersede_close_code = 1006")
