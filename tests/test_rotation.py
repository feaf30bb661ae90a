"""Make-before-break rotation (issue 13 item 7): ``Session.rotate()`` and
``Config.max_connection_age`` open generation N+1 while N still serves, run
``on_connect`` on it, move sends to it, then close N after its writes under way.

Times are exact on the virtual clock. ``server.slow(LATENCY)`` makes every chunk take
``LATENCY`` seconds each way, so an opening handshake takes ``2 * LATENCY``: a
rotation's new connection is open ``2 * LATENCY`` after it starts, plus what
``on_connect`` takes."""

from __future__ import annotations

import itertools
import logging

import pytest
import trio
import trio.lowlevel
import trio.testing

import tether
from tether import Config, State, events
from tether.events import LostReason
from tether.testing import ServerConnection, memory_server

from .helpers import EventLog, silent

URL = "ws://tether.test/"
QUIET = Config(ping_interval=None)
LATENCY = 0.05


async def test_rotate_opens_the_new_connection_before_closing_the_old(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    states: list[tuple[str, State]] = []
    holder: list[tether.Session] = []

    def on_event(event: events.Event) -> None:
        log(event)
        if holder:
            states.append((type(event).__name__, holder[0].state))

    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=QUIET, opener=server.opener, on_event=on_event) as session,
        ):
            holder.append(session)
            server.slow(LATENCY)
            await trio.sleep(1)
            await session.rotate()
            assert trio.current_time() == pytest.approx(1 + 2 * LATENCY)
            assert session.generation == 2
            # The old connection is still closing (its Close takes LATENCY each way).
            assert [c.closed_at for c in server.connections] == [None, None]
            await session.send("after")
            assert await session.receive() == "after"
            await server.wait_closed(1)
            first, second = server.connections
            assert (first.close_code, first.closed_by) == (1000, "client")
            assert first.closed_at == pytest.approx(1 + 3 * LATENCY)
            assert second.messages == ["after"]
            assert second.closed_at is None
    assert log.kinds()[:5] == ["Connecting", "Connected", "Connecting", "Connected", "Rotated"]
    assert log.of(events.ConnectionLost) == []
    rotated = log.of(events.Rotated)
    assert [(e.at, e.generation, e.previous, e.reason) for e in rotated] == [
        (pytest.approx(1 + 2 * LATENCY), 2, 1, "rotate()")
    ]
    assert str(rotated[0]) == "rotated (rotate()): generation 2 took over from generation 1"
    assert [e.at for e in log.of(events.Connecting)] == [0, 1]
    # The session never left OPEN: no event of the rotation saw another state.
    assert {state for kind, state in states if kind != "Closed"} == {State.OPEN}
    assert session.statistics().attempts == 2


async def test_the_old_connection_is_closed_with_the_supersede_close_code(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = Config(ping_interval=None, supersede_close_code=4000)
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=config, opener=server.opener) as session,
        ):
            await session.rotate()
            await session.rotate()
            await server.wait_closed(2)
            assert session.generation == 3
    assert [c.close_code for c in server.connections] == [4000, 4000, 1000]


async def test_sends_during_rotations_arrive_once_each_and_in_order(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A sender at 100 messages/s through four rotations: every message reaches the
    server exactly once, in the order sent, across the connections; the echoes of all
    of them come back (the old connection's reader delivers what came before its
    Close)."""
    sent = [f"m{i}" for i in range(300)]
    echoes: list[str] = []
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=QUIET, opener=server.opener) as session,
        ):
            server.slow(LATENCY)

            async def send_all() -> None:
                for message in sent:
                    await session.send(message)
                    await trio.sleep(0.01)

            async def rotate_four_times() -> None:
                for _ in range(4):
                    await trio.sleep(0.5)
                    await session.rotate()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_all)
                nursery.start_soon(rotate_four_times)
                while len(echoes) < len(sent):
                    echoes.append(await session.receive())
            assert session.generation == 5
    assert [m for c in server.connections for m in c.messages] == sent
    assert all(c.messages for c in server.connections)  # each generation carried some
    assert echoes == sent


async def test_a_queued_burst_keeps_its_order_across_the_takeover(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Messages queued while the old generation's writer is still writing go to the
    new one only after it: the server sees each once, in order."""
    sent = [f"b{i}" * 2000 for i in range(400)]
    with trio.fail_after(60):
        async with (
            memory_server(silent) as server,
            tether.connect(URL, config=QUIET, opener=server.opener) as session,
        ):
            server.slow(LATENCY)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(session.rotate)
                for message in sent:
                    session.send_nowait(message)
                    if message == sent[200]:
                        await trio.sleep(2 * LATENCY)  # the rotation becomes ready mid-burst
            await session.aclose()
    received = [m for c in server.connections for m in c.messages]
    assert received == sent
    assert len(server.connections) == 2 and all(c.messages for c in server.connections)


async def test_on_connect_runs_on_the_new_connection_while_the_old_serves(
    autojump_clock: trio.abc.Clock,
) -> None:
    received: list[tuple[float, str]] = []
    hello: list[tuple[int, float]] = []
    log = EventLog()

    async def on_connect(conn: tether.Connection) -> None:
        await conn.send(f"hello {conn.generation}")
        hello.append((conn.generation, trio.current_time()))
        if conn.generation == 2:
            await trio.sleep(1)

    async def ticker(conn: ServerConnection) -> None:
        for n in range(30):
            await conn.send_message(f"tick {n}")
            await trio.sleep(0.1)
        await trio.sleep_forever()

    with trio.fail_after(60):
        async with (
            memory_server(ticker) as server,
            tether.connect(
                URL, config=QUIET, opener=server.opener, on_connect=on_connect, on_event=log
            ) as s,
        ):

            async def take() -> None:
                async for message in s:
                    received.append((trio.current_time(), message))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(take)
                await trio.sleep(1)
                await s.rotate()
                assert trio.current_time() == 2  # on_connect took 1 s
                await trio.sleep(0.5)
                nursery.cancel_scope.cancel()
    assert hello == [(1, 0), (2, 1)]
    assert [e.at for e in log.of(events.Rotated)] == [2]
    # The first connection's ticks went on during the second's on_connect: no gap.
    times = [at for at, message in received if message.startswith("tick")]
    assert max(b - a for a, b in itertools.pairwise(times)) <= 0.1 + 1e-9


async def test_a_rotation_that_cannot_connect_leaves_the_old_connection_serving(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=QUIET, opener=server.opener, on_event=log) as session,
        ):
            server.reject(1, status=401)
            await trio.sleep(1)
            with pytest.raises(tether.RotationFailedError) as caught:
                await session.rotate()
            assert isinstance(caught.value.__cause__, tether.HandshakeRejected)
            assert caught.value.error is caught.value.__cause__
            assert session.generation == 1
            assert session.state is State.OPEN
            await session.send("still here")
            assert await session.receive() == "still here"
            server.refuse(1)
            with pytest.raises(tether.RotationFailedError) as refused:
                await session.rotate()
            assert isinstance(refused.value.__cause__, ConnectionRefusedError)
            await session.rotate()  # and the next one works
            assert session.generation == 2
    failed = log.of(events.RotationFailed)
    assert [(e.at, e.generation, e.reason) for e in failed] == [
        (1, 1, "rotate()"),
        (1, 1, "rotate()"),
    ]
    assert str(failed[0]).startswith("rotation failed (rotate()), generation 1 serves on: ")
    assert failed[0].error.__traceback__ is None
    assert log.of(events.ConnectionLost) == []
    assert [c.messages for c in server.connections if c.opened] == [["still here"], []]


async def test_max_connection_age_rotates_on_time(autojump_clock: trio.abc.Clock) -> None:
    config = Config(ping_interval=None, max_connection_age=10)
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=config, opener=server.opener, on_event=log) as session,
        ):
            server.slow(LATENCY)
            await trio.sleep(35)
            assert session.generation == 4
    rotated = log.of(events.Rotated)
    # Each generation is 10 s old when its successor starts; it opens 2 * LATENCY later.
    assert [(e.at, e.generation, e.reason) for e in rotated] == [
        (pytest.approx(10 + 2 * LATENCY), 2, "max_connection_age"),
        (pytest.approx(20 + 4 * LATENCY), 3, "max_connection_age"),
        (pytest.approx(30 + 6 * LATENCY), 4, "max_connection_age"),
    ]
    assert log.of(events.ConnectionLost) == []
    assert [c.close_code for c in server.connections] == [1000, 1000, 1000, 1000]


async def test_a_failed_age_rotation_is_tried_again_after_backoff_maximum(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = Config(ping_interval=None, max_connection_age=10, backoff=tether.Backoff(maximum=4))
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=config, opener=server.opener, on_event=log) as session,
        ):
            server.refuse(2)
            await trio.sleep(19)
            assert session.generation == 2
    assert [e.at for e in log.of(events.RotationFailed)] == [10, 14]
    assert [(e.at, e.generation) for e in log.of(events.Rotated)] == [(18, 2)]


async def test_a_loss_during_the_rotation_abandons_it_and_reconnects(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The old connection is lost while the new one runs ``on_connect``: the new one
    is closed unused, the loss is reported as any loss, and ``rotate()`` returns once
    the session is open again (on a fresh attempt)."""
    log = EventLog()

    async def on_connect(conn: tether.Connection) -> None:
        if conn.generation == 2 and conn.attempt == 1 and not log.of(events.ConnectionLost):
            await trio.sleep(1)

    async def first_closes(conn: ServerConnection) -> None:
        if len(server.connections) == 1:
            await server.wait_connections(2)
            await trio.sleep(0.5)
            await conn.aclose(1012, "restarting")
            return
        while True:
            await conn.send_message(await conn.get_message())

    with trio.fail_after(60):
        async with (
            memory_server(first_closes) as server,
            tether.connect(
                URL, config=QUIET, opener=server.opener, on_connect=on_connect, on_event=log
            ) as session,
        ):
            await trio.sleep(1)
            await session.rotate()
            assert session.generation == 2
            connected = log.of(events.Connected)
            assert [e.generation for e in connected] == [1, 2]
            assert trio.current_time() == connected[-1].at > 1.5
            await session.send("x")
            assert await session.receive() == "x"
    lost = log.of(events.ConnectionLost)
    assert [(e.at, e.generation, e.reason, e.code) for e in lost] == [
        (1.5, 1, LostReason.PEER_CLOSED, 1012)
    ]
    assert log.of(events.Rotated) == []
    second, third = server.connections[1:]
    assert second.closed_by == "client" and second.messages == []
    assert third.messages == ["x"]


async def test_aclose_during_the_rotation_closes_both_connections(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def on_connect(conn: tether.Connection) -> None:
        if conn.generation == 2:
            await trio.sleep(10)

    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(
                URL, config=QUIET, opener=server.opener, on_connect=on_connect, on_event=log
            ) as session,
            trio.open_nursery() as nursery,
        ):

            async def rotate_and_fail() -> None:
                with pytest.raises(tether.SessionClosed):
                    await session.rotate()

            nursery.start_soon(rotate_and_fail)
            await trio.sleep(1)
            await session.aclose(4001, "bye")
    assert trio.current_time() == 1
    assert [(c.close_code, c.closed_by) for c in server.connections] == [
        (4001, "client"),
        (4001, "client"),
    ]
    assert log.kinds()[-1] == "Closed"
    assert log.of(events.Closed)[0].code == 4001
    assert log.of(events.ConnectionLost) == []


async def test_reconnect_during_the_rotation_supersedes_the_old_and_abandons_the_new(
    autojump_clock: trio.abc.Clock,
) -> None:
    calls: list[int] = []

    async def on_connect(conn: tether.Connection) -> None:
        calls.append(conn.generation)
        if calls == [1, 2]:  # the rotation's new connection, not the reconnect's
            await trio.sleep(10)

    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(
                URL, config=QUIET, opener=server.opener, on_connect=on_connect, on_event=log
            ) as session,
        ):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(session.rotate)
                await trio.sleep(1)
                session.reconnect()
            assert trio.current_time() == 1
            assert session.generation == 2
    assert [(e.generation, e.reason) for e in log.of(events.ConnectionLost)] == [
        (1, LostReason.SUPERSEDED)
    ]
    assert log.of(events.Rotated) == []
    assert calls == [1, 2, 2]
    assert len(server.connections) == 3
    assert server.connections[1].closed_by == "client"


async def test_rotate_while_reconnecting_waits_for_the_next_connection(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = Config(ping_interval=None, backoff=tether.Backoff(initial=2, jitter=False))
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(URL, config=config, opener=server.opener, on_event=log) as session,
        ):
            await trio.sleep(1)
            server.refuse(1)
            server.drop()
            await log.wait_count(events.ConnectionLost, 1)
            assert session.state is not State.OPEN
            await session.rotate()
            assert session.generation == 2
            # It returned when the reconnect opened (after one refused attempt).
            assert trio.current_time() == log.of(events.Connected)[-1].at > 1
            assert server.refused_attempts == 1
            assert len(server.connections) == 2  # no rotation: the reconnect was new


async def test_rotate_after_close_raises_session_closed(autojump_clock: trio.abc.Clock) -> None:
    async with memory_server() as server:
        async with tether.connect(URL, config=QUIET, opener=server.opener) as session:
            pass
        with pytest.raises(tether.SessionClosed):
            await session.rotate()


@pytest.mark.parametrize("age", [0, -1, float("inf"), float("nan"), "10", True])
def test_max_connection_age_is_checked(age: object) -> None:
    with pytest.raises(tether.ConfigError, match=r"^max_connection_age: "):
        Config(max_connection_age=age)  # type: ignore[arg-type]


async def test_a_rotation_is_logged_and_a_failed_one_warned(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tether")
    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener) as session,
    ):
        await session.rotate()
        server.refuse(1)
        with pytest.raises(tether.RotationFailedError):
            await session.rotate()
    records = [
        (r.levelname, r.generation, r.getMessage())  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "tether"
    ]
    assert records[1:4] == [
        ("INFO", 2, f"connected to {URL} (generation 2)"),
        ("INFO", 2, "rotated (rotate()): generation 2 took over from generation 1"),
        (
            "WARNING",
            2,
            "rotation failed (rotate()), generation 2 serves on: "
            "ConnectionRefusedError: [Errno 111] memory server refused the connection",
        ),
    ]


async def test_sends_held_for_a_rotation_that_fails_go_out_on_the_old_connection(
    autojump_clock: trio.abc.Clock,
) -> None:
    """While the new connection's ``on_connect`` runs, the old one starts no write;
    when that ``on_connect`` fails, what was queued meanwhile is written on the old
    connection at once, without waiting for a later send."""

    async def on_connect(conn: tether.Connection) -> None:
        if conn.generation == 2:
            await trio.sleep(1)
            raise RuntimeError("not today")

    with trio.fail_after(60):
        async with (
            memory_server(silent) as server,
            tether.connect(URL, config=QUIET, opener=server.opener, on_connect=on_connect) as s,
        ):
            async with trio.open_nursery() as nursery:

                async def rotate() -> None:
                    with pytest.raises(tether.RotationFailedError) as caught:
                        await s.rotate()
                    assert isinstance(caught.value.__cause__, tether.ApplicationError)

                nursery.start_soon(rotate)
                await trio.sleep(0.5)
                s.send_nowait("held 1")
                s.send_nowait("held 2")
                await trio.sleep(0.1)
                assert server.connections[0].messages == []  # held: the rotation is on
            assert trio.current_time() == 1
            for _ in range(100):  # checkpoints only: no virtual time passes
                if len(server.connections[0].messages) == 2:
                    break
                await trio.lowlevel.checkpoint()
            assert trio.current_time() == 1
            assert server.connections[0].messages == ["held 1", "held 2"]
            assert s.generation == 1
