"""The pytest plugin ``tether.testing.pytest_plugin``: its fixtures, as a user gets them.

``tests/conftest.py`` opts in with ``pytest_plugins``, exactly as a user's conftest
would; the last tests run a separate pytest (``pytester``) to show the opt-in, the
teardown and the clock guard from the outside.
"""

from __future__ import annotations

import contextlib

import pytest
import trio
import trio_websocket
from trio.testing import MockClock

import tether
from tether import Config, LostReason, events
from tether.testing import MemoryServer, ServerConnection, echo
from tether.testing.pytest_plugin import URL, EventRecorder

#: Every wait here is bounded in virtual seconds: under the autojump clock a wait that
#: never ends does not hang, it spins through virtual time (pings keep the clock busy).
VIRTUAL_LIMIT = 600

# ------------------------------------------------------------------ the fixtures


async def test_session_is_open_on_the_memory_server_and_echoes(
    tether_server: MemoryServer, tether_session: tether.Session
) -> None:
    assert tether_session.state is tether.State.OPEN
    assert tether_session.generation == 1
    assert [record.id for record in tether_server.open_connections] == [1]
    assert tether_server.connections[0].path == "/"
    with trio.fail_after(VIRTUAL_LIMIT):
        await tether_session.send("ping")
        await tether_session.send(b"\x00\x01")
        assert await tether_session.receive() == "ping"
        assert await tether_session.receive() == b"\x00\x01"
    assert trio.current_time() == 0


async def test_the_session_alone_implies_the_virtual_clock(
    tether_session: tether.Session,
) -> None:
    """The test names no clock fixture, yet runs on ``autojump_clock``: a virtual hour
    of default pings (every 20 s) passes at once and exactly."""
    assert isinstance(trio.lowlevel.current_clock(), MockClock)
    await trio.sleep(3600)
    assert trio.current_time() == 3600
    assert tether_session.generation == 1
    assert tether_session.statistics().last_rtt == 0  # pongs answered in virtual no-time


async def test_the_clock_is_the_autojump_clock_fixture(
    autojump_clock: MockClock, tether_server: MemoryServer
) -> None:
    assert trio.lowlevel.current_clock() is autojump_clock
    assert autojump_clock.autojump_threshold == 0


async def test_events_record_every_event_of_a_reconnect(
    tether_server: MemoryServer, tether_session: tether.Session, tether_events: EventRecorder
) -> None:
    await trio.sleep(7)
    tether_server.drop()
    with trio.fail_after(VIRTUAL_LIMIT):
        connected = await tether_events.wait_count(events.Connected, 2)
    assert tether_events.kinds() == [
        "Connecting",
        "Connected",
        "ConnectionLost",
        "Connecting",
        "Connected",
    ]
    (lost,) = tether_events.of(events.ConnectionLost)
    assert (lost.generation, lost.reason, lost.code, lost.at) == (
        1,
        LostReason.TRANSPORT_ERROR,
        1006,
        7,
    )
    assert (connected.generation, connected.at, connected.url) == (2, 7, URL)
    assert tether_session.generation == 2


async def test_a_test_can_drive_a_fault_plan_against_the_session(
    tether_server: MemoryServer, tether_session: tether.Session, tether_events: EventRecorder
) -> None:
    plan = tether.testing.FaultPlan(
        [(10, tether.testing.Close(1012)), (20, tether.testing.Restart(30))]
    )
    with trio.fail_after(VIRTUAL_LIMIT):
        await tether_server.run_plan(plan)
        await tether_session.wait_connected()
    lost = tether_events.of(events.ConnectionLost)
    assert [(e.reason, e.code, e.at) for e in lost] == [
        (LostReason.PEER_CLOSED, 1012, 10),
        (LostReason.TRANSPORT_ERROR, 1006, 20),
    ]
    assert tether_session.generation == 3
    assert tether_events.of(events.Connected)[-1].at >= 50  # not before the server is back


class TestOverridingTheConfig:
    """A ``tether_config`` fixture closer to the test replaces the plugin's."""

    @pytest.fixture
    def tether_config(self) -> Config:
        return Config(ping_interval=3, ping_timeout=2)

    async def test_the_session_runs_with_it(
        self,
        tether_server: MemoryServer,
        tether_session: tether.Session,
        tether_events: EventRecorder,
    ) -> None:
        assert tether_session.config.ping_interval == 3
        tether_server.stall()
        with trio.fail_after(VIRTUAL_LIMIT):
            lost = await tether_events.wait_count(events.ConnectionLost, 1)
        assert (lost.reason, lost.at) == (LostReason.PING_TIMEOUT, 3 + 2)
        tether_server.resume()


class TestOverridingTheHandler:
    """A ``tether_handler`` fixture replaces the echo."""

    @pytest.fixture
    def tether_handler(self) -> tether.testing.Handler:
        async def greeter(conn: ServerConnection) -> None:
            await conn.send_message(f"welcome #{conn.record.id}")
            await echo(conn)

        return greeter

    async def test_the_server_runs_it(
        self, tether_server: MemoryServer, tether_session: tether.Session
    ) -> None:
        with trio.fail_after(VIRTUAL_LIMIT):
            assert await tether_session.receive() == "welcome #1"
            tether_server.drop()
            assert await tether_session.receive() == "welcome #2"


# ------------------------------------------------------------------ EventRecorder


async def test_event_recorder_waits_for_the_nth_event_without_polling(
    autojump_clock: MockClock,
) -> None:
    recorder = EventRecorder()
    got: list[events.Event] = []

    async def waiter() -> None:
        got.append(await recorder.wait_count(events.Connected, 2))

    with trio.fail_after(VIRTUAL_LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            for n in (1, 2, 3):
                await trio.sleep(1)
                now = trio.current_time()
                recorder(events.Connecting(generation=n, at=now, attempt=1, url=URL))
                recorder(events.Connected(generation=n, at=now, attempt=1, url=URL))
    assert [(e.generation, e.at) for e in got] == [(2, 2)]
    assert recorder.kinds() == ["Connecting", "Connected"] * 3
    assert [e.generation for e in recorder.of(events.Connected)] == [1, 2, 3]
    assert recorder.of(events.ConnectionLost) == []


# ------------------------------------------------------------------ from the outside

_CONFTEST = 'pytest_plugins = ["tether.testing.pytest_plugin"]\n'

_USER_TESTS = """
import trio
import tether
from tether import events

servers = []

async def test_uses_the_session(tether_server, tether_session, tether_events):
    servers.append(tether_server)
    with trio.fail_after(60):
        await tether_session.send("hello")
        assert await tether_session.receive() == "hello"
        tether_server.drop()
        await tether_events.wait_count(events.Connected, 2)

async def test_the_session_was_closed_after_the_last_test():
    (server,) = servers
    first, second = server.connections
    assert (first.closed_by, first.close_code) == ("abort", 1006)
    assert (second.closed_by, second.close_code) == ("client", 1000)
    assert second.messages == []
"""


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    return pytester


def test_a_user_project_opts_in_from_its_conftest(user_project: pytest.Pytester) -> None:
    user_project.makeconftest(_CONFTEST)
    user_project.makepyfile(test_user=_USER_TESTS)
    result = user_project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_without_the_opt_in_the_fixtures_do_not_exist(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(test_user=_USER_TESTS)
    result = user_project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=0, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'tether_server' not found*"])


def test_another_clock_fixture_is_refused_with_a_clear_error(
    user_project: pytest.Pytester,
) -> None:
    user_project.makeconftest(_CONFTEST)
    user_project.makepyfile(
        test_user="""
        async def test_mock_clock(mock_clock, tether_server):
            pass
        """
    )
    result = user_project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # pytest-trio sets async fixtures up in the test
    result.stdout.fnmatch_lines(["*tether_server must run on pytest-trio's autojump_clock*"])


# ------------------------------------------ a ping crossing a Close frame
#
# trio-websocket answers a Ping with a Pong from its reader task, even after its own
# Close frame went out; wsproto refuses to send a Pong in LOCAL_CLOSING and raises
# LocalProtocolError, which crashed the reader task and the nursery it runs in: on the
# client, the session ended with ReconnectFailed; on the server, memory_server itself
# crashed. A ping from the peer that crosses a Close frame on the wire triggers it (with
# round fault times on the virtual clock, a Close that lands on a ping instant). A stall
# makes the crossing deterministic: both frames are held, then delivered together.


async def _ping_ignoring_close(conn: ServerConnection) -> None:
    # trio-websocket's ping() never returns if the connection ends first: bound it.
    with trio.move_on_after(30), contextlib.suppress(trio_websocket.ConnectionClosed):
        await conn.ping()


class TestServerPingCrossingTheSessionsClose:
    @pytest.fixture
    def server_conns(self) -> list[ServerConnection]:
        return []

    @pytest.fixture
    def tether_handler(self, server_conns: list[ServerConnection]) -> tether.testing.Handler:
        async def keep(conn: ServerConnection) -> None:
            server_conns.append(conn)
            await echo(conn)

        return keep

    @pytest.fixture
    def tether_config(self) -> Config:
        return Config(ping_interval=None, close_timeout=5)

    async def test_reconnect_survives_a_crossing_server_ping(
        self,
        tether_server: MemoryServer,
        tether_session: tether.Session,
        tether_events: EventRecorder,
        server_conns: list[ServerConnection],
    ) -> None:
        await trio.sleep(10)
        tether_server.stall()
        tether_session.reconnect("crossing")  # its Close frame is held by the stall
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_ping_ignoring_close, server_conns[0])  # held too
            await trio.sleep(1)
            tether_server.resume()
        with trio.fail_after(60):
            await tether_events.wait_count(events.Connected, 2)
        (lost,) = tether_events.of(events.ConnectionLost)
        # Reported once the close handshake is over: when the link resumed.
        assert (lost.reason, lost.at) == (LostReason.SUPERSEDED, 11)
        assert tether_server.connections[0].close_code == 1000
        await tether_session.send("still here")
        assert await tether_session.receive() == "still here"


class TestClientPingCrossingTheServersClose:
    @pytest.fixture
    def tether_config(self) -> Config:
        return Config(ping_interval=5, ping_timeout=5)

    async def test_the_memory_server_survives_a_crossing_client_ping(
        self,
        tether_server: MemoryServer,
        tether_session: tether.Session,
        tether_events: EventRecorder,
    ) -> None:
        await trio.sleep(1)
        tether_server.stall()
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(tether_server.close, 1012)  # held by the stall
                await trio.sleep(5)  # the client's ping at 5 s is held too
                tether_server.resume()
            await tether_events.wait_count(events.Connected, 2)
        (lost,) = tether_events.of(events.ConnectionLost)
        assert (lost.reason, lost.code, lost.at) == (LostReason.PEER_CLOSED, 1012, 6)
        assert tether_server.connections[0].close_code == 1012
