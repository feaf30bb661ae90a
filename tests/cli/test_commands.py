"""``tether connect``'s in-session commands (tether.cli.connect.commands) against the
in-memory server on the virtual clock: what ``/ping`` says when there is no pong, no
connection or a connection that drops under it, ``/close`` with bad arguments, and
``/stats``' fields for people, at exact virtual times. The same commands typed in a
real terminal: tests/cli/test_connect_terminal.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio
import trio.testing

import tether
from tether import Backoff, Config
from tether.cli.connect.commands import PING_WAIT, Commands
from tether.testing import MemoryServer, memory_server

URL = "ws://commands.test/"
#: No keepalive (a stalled link is not dropped under the command), one-second backoff.
QUIET = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=1, jitter=False))


class Harness:
    """A session, its latest ``on_connect`` handle, and Commands noting into a list."""

    def __init__(
        self, server: MemoryServer, session: tether.Session, latest: list[tether.Connection]
    ) -> None:
        self.server = server
        self.session = session
        self._latest = latest
        self.notes: list[str] = []
        self.commands = Commands(session, self.notes.append, latest[-1])

    def reconnected(self) -> None:
        """Give the commands the newest handle, as the runner's ``on_connect`` does."""
        self.commands.connection = self._latest[-1]

    async def run(self, line: str) -> list[str]:
        """Run ``line``; the notes it made."""
        before = len(self.notes)
        await self.commands.run(line)
        return self.notes[before:]


@asynccontextmanager
async def session_with_commands(config: Config = QUIET) -> AsyncIterator[Harness]:
    """A :class:`Harness` on a fresh memory server, its session open."""
    latest: list[tether.Connection] = []

    async def on_connect(connection: tether.Connection) -> None:
        latest.append(connection)

    async with (
        memory_server() as server,
        tether.connect(URL, config=config, opener=server.opener, on_connect=on_connect) as s,
    ):
        yield Harness(server, s, latest)


async def test_ping_shows_the_round_trip_of_the_link(autojump_clock: trio.abc.Clock) -> None:
    async with session_with_commands() as h:
        h.server.slow(0.25)  # each way
        assert await h.run("/ping") == ["pong: round trip 500.00 ms (generation 1)"]


async def test_ping_without_a_pong_gives_up_after_ping_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with session_with_commands(attrs.evolve(QUIET, ping_timeout=2.5)) as h:
        h.server.stall()
        started = trio.current_time()
        assert await h.run("/ping") == ["ping: no pong within 2.5 s"]
        assert trio.current_time() - started == 2.5
        assert h.session.generation == 1  # the command does not drop the connection


async def test_ping_without_ping_timeout_waits_the_commands_own_bound(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with session_with_commands(attrs.evolve(QUIET, ping_timeout=None)) as h:
        h.server.stall()
        started = trio.current_time()
        assert await h.run("/ping") == [f"ping: no pong within {PING_WAIT:g} s"]
        assert trio.current_time() - started == PING_WAIT


async def test_ping_when_the_connection_drops_before_its_pong(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    async with session_with_commands() as h:
        h.server.stall()
        notes: list[list[str]] = []

        async def ping() -> None:
            notes.append(await h.run("/ping"))

        nursery.start_soon(ping)
        await trio.sleep(1)
        h.server.drop()  # at once, no virtual time
        await trio.testing.wait_all_tasks_blocked()
        assert notes == [["ping: the connection was lost (transport_error)"]]


async def test_ping_with_no_connection_or_an_old_one(autojump_clock: trio.abc.Clock) -> None:
    async with session_with_commands() as h:
        h.commands.connection = None
        assert await h.run("/ping") == ["ping: not connected"]
        h.reconnected()
        h.server.drop()
        await h.server.wait_connections(2)
        await trio.sleep(0.1)  # virtual: generation 2 opens meanwhile
        # The handle of generation 1, not yet replaced: not the current connection.
        assert h.session.generation == 2
        assert await h.run("/ping") == ["ping: not connected"]
        h.reconnected()
        assert await h.run("/ping") == ["pong: round trip 0.00 ms (generation 2)"]


async def test_close_with_bad_arguments_says_why_and_keeps_the_session(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with session_with_commands() as h:
        assert await h.run("/close soon") == ["close: not a close code: 'soon'"]
        [note] = await h.run("/close 1005")  # reserved: never sent in a Close frame
        assert note.startswith("close: ") and "1005" in note
        assert h.session.state is tether.State.OPEN
        assert await h.run("/close 4001 bye now") == []
        assert h.session.state is tether.State.CLOSED
        await h.server.wait_closed(1)
        [record] = h.server.connections
        assert (record.close_code, record.closed_by) == (4001, "client")


async def test_stats_are_shown_for_people(autojump_clock: trio.abc.Clock) -> None:
    config = attrs.evolve(QUIET, ping_interval=3, ping_timeout=2)
    async with session_with_commands(config) as h:
        h.server.slow(0.125)
        await trio.sleep(4)  # the keepalive's first ping, at 3 s, answered at 3.25 s
        shown = dict(line.split(": ", 1) for line in await h.run("/stats"))
        assert shown["last_rtt"] == "250.00 ms"
        opened = h.session.statistics().connected_since
        assert opened is not None
        assert shown["connected_since"] == f"{trio.current_time() - opened:.3f} s ago"
        assert shown["generation"] == "1"
        assert shown["state"] == "open"
