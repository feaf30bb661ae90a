"""The failure catalogue F1-F14 (docs/design.md): one named regression test each.

All run on Trio's virtual clock (``autojump_clock``) against ``tether.testing``'s
in-memory server, and assert exact virtual times where time is the point. The loopback
variants of F4, F5, F7 and F12 live in ``test_loopback.py``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest
import trio
import trio.testing

import tether
from tether import Backoff, Config, LostReason, events
from tether.testing import ServerConnection, memory_server

from .helpers import EventLog, silent

URL = "ws://tether.test/"

#: Pings every 5 s, pong within 5 s; fast backoff so schedules stay short.
FAST = Config(
    ping_interval=5,
    ping_timeout=5,
    connect_timeout=10,
    close_timeout=2,
    backoff=Backoff(initial=1, maximum=8, jitter=False),
)


# ---------------------------------------------------------------------------- F1


async def test_f1_receive_waits_across_generations(autojump_clock: trio.abc.Clock) -> None:
    log = EventLog()
    async with (
        memory_server() as server,
        tether.connect(URL, config=FAST, opener=server.opener, on_event=log) as session,
    ):
        received: list[object] = []

        async def wait_for_reply() -> None:
            received.append(await session.receive())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_reply)
            await trio.sleep(10)  # a stable connection (Backoff.stable_after = 5 s)
            server.drop()
            await log.wait_count(events.Connected, 2)
            assert received == []  # still waiting, not failed
            await session.send("approved")
        assert received == ["approved"]
        assert session.generation == 2
        assert log.of(events.ConnectionLost)[0].reason is LostReason.TRANSPORT_ERROR
        assert trio.current_time() == 10  # the first retry was immediate


# ---------------------------------------------------------------------------- F2


async def test_f2_on_connect_crash_ends_session_and_wakes_every_waiter(
    autojump_clock: trio.abc.Clock,
) -> None:
    calls = 0

    async def on_connect(conn: tether.Connection) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("bug in re-subscribe")

    log = EventLog()
    outcomes: list[BaseException] = []
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with (
            memory_server() as server,
            tether.connect(
                URL, config=FAST, opener=server.opener, on_connect=on_connect, on_event=log
            ) as session,
        ):

            async def receiver() -> None:
                try:
                    await session.receive()
                except tether.SessionClosed as exc:
                    outcomes.append(exc)

            async def waiter() -> None:
                await trio.sleep(0.5)
                try:
                    await session.wait_connected()
                    await session.send("never written")
                except tether.SessionClosed as exc:
                    outcomes.append(exc)

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(receiver)
                    nursery.start_soon(waiter)
                    await trio.sleep(0.1)
                    server.drop()
            await session.receive()
    cause = raised.value.__cause__
    assert isinstance(cause, tether.ApplicationError)
    assert isinstance(cause.__cause__, RuntimeError)
    assert len(outcomes) == 2
    assert all(isinstance(exc, tether.ReconnectFailed) for exc in outcomes)
    assert [type(e).__name__ for e in log.items[-2:]] == ["GaveUp", "Closed"]


async def test_f2_failure_to_open_never_hangs_connect(autojump_clock: trio.abc.Clock) -> None:
    async def on_connect(conn: tether.Connection) -> None:
        raise KeyError("crash before the first generation opens")

    async with memory_server() as server:
        with trio.fail_after(60), pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(
                URL, config=FAST, opener=server.opener, on_connect=on_connect
            ):
                pytest.fail("must not enter")
        cause = raised.value.__cause__
        assert isinstance(cause, tether.ApplicationError)
        assert isinstance(cause.__cause__, KeyError)
        assert len(server.connections) == 1


# ---------------------------------------------------------------------------- F3


async def test_f3_old_generation_delivers_nothing_after_new_connecting(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def chatter(conn: ServerConnection) -> None:
        for n in range(10_000):
            await conn.send_message(f"{conn.record.id}:{n}")
            await trio.sleep(0.001)

    # A receive buffer of 4 that nobody reads: generation 1's reader holds a 5th
    # message, waiting for room, when reconnect() supersedes it.
    config = Config(ping_interval=None, receive_buffer=4, close_timeout=1)
    log = EventLog()
    sessions: list[tether.Session] = []
    delivered_at_connecting_2: list[int] = []

    def on_event(event: events.Event) -> None:
        log(event)
        if isinstance(event, events.Connecting) and event.generation == 2:
            delivered_at_connecting_2.append(sessions[0].statistics().messages_received)

    with trio.fail_after(60):
        async with (
            memory_server(chatter) as server,
            tether.connect(URL, config=config, opener=server.opener, on_event=on_event) as session,
        ):
            sessions.append(session)
            await trio.sleep(0.5)
            assert session.statistics().receive_buffered == 4
            session.reconnect("test")
            await log.wait_count(events.Connected, 2)
            received = [str(await session.receive()) for _ in range(20)]
    assert delivered_at_connecting_2 == [4]
    # Every event about generation 1 precedes generation 2's Connecting ...
    connecting_2 = next(
        e for e in log.items if isinstance(e, events.Connecting) and e.generation == 2
    )
    index = log.items.index(connecting_2)
    assert all(e.generation == 2 for e in log.items[index:] if not isinstance(e, events.Closed))
    # ... and generation 1 delivered exactly what it had delivered by then, all before
    # the first message of generation 2.
    sources = [message.split(":")[0] for message in received]
    assert sources == ["1"] * 4 + ["2"] * 16
    assert received[:4] == ["1:0", "1:1", "1:2", "1:3"]


# ---------------------------------------------------------------------------- F4


async def test_f4_reconnect_during_connect_attempt_leaves_one_connection(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    async with (
        memory_server() as server,
        tether.connect(URL, config=FAST, opener=server.opener, on_event=log) as session,
    ):
        server.slow(1.0)  # every chunk now takes 1 s each way: a slow handshake
        session.reconnect("first")
        await log.wait_count(events.Connecting, 2)
        await trio.sleep(0.5)  # generation 2's handshake is in flight
        session.reconnect("second, during the connect attempt")
        server.slow(None)
        await session.wait_connected()
        assert session.generation == 2
        await trio.sleep(30)
        assert [c.id for c in server.open_connections] == [3]
        assert len(server.connections) == 3
        assert server.connections[1].closed_at is not None  # the abandoned attempt
        assert session.generation == 2


async def test_reconnect_100_times_while_connecting(autojump_clock: trio.abc.Clock) -> None:
    log = EventLog()
    async with (
        memory_server() as server,
        tether.connect(URL, config=FAST, opener=server.opener, on_event=log) as session,
    ):
        server.slow(0.5)
        for _ in range(100):
            session.reconnect("storm")
            await trio.sleep(0.1)  # lands inside each connect attempt
        server.slow(None)
        await session.wait_connected()
        await trio.sleep(30)
        assert len(server.open_connections) == 1
        assert session.generation == 2
        assert len(log.of(events.Connected)) == 2
        assert len(log.of(events.ConnectionLost)) == 1
        assert session.statistics().reconnects == 1
        await session.send("still works")
        assert await session.receive() == "still works"


# ---------------------------------------------------------------------------- F5


async def test_f5_reconnect_during_backoff_cancels_the_backoff(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = Config(ping_interval=None, backoff=Backoff(initial=10, maximum=60, jitter=False))
    log = EventLog()
    async with (
        memory_server() as server,
        tether.connect(URL, config=config, opener=server.opener, on_event=log) as session,
    ):
        server.go_down()
        start = trio.current_time()
        await log.wait_count(events.BackingOff, 1)
        backing_off = log.of(events.BackingOff)[0]
        assert backing_off.delay == 10
        assert backing_off.at == start
        await trio.sleep(3)
        server.come_back()
        session.reconnect("operator")
        await session.wait_connected()
        assert trio.current_time() == start + 3
        await trio.sleep(120)  # far past the cancelled 10 s backoff
        assert session.generation == 2
        assert len(server.open_connections) == 1
        assert len(log.of(events.Connected)) == 2


# ---------------------------------------------------------------------------- F6


async def test_f6_slow_consumer_gets_backpressure_not_a_disconnect(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def firehose(conn: ServerConnection) -> None:
        for n in range(2000):
            await conn.send_message(str(n))
        await silent(conn)

    config = Config(ping_interval=5, ping_timeout=5, idle_timeout=10, receive_buffer=16)
    log = EventLog()
    async with (
        memory_server(firehose) as server,
        tether.connect(URL, config=config, opener=server.opener, on_event=log) as session,
    ):
        await trio.sleep(120)  # the application reads nothing for two minutes
        received = [await session.receive() for _ in range(2000)]
        assert received == [str(n) for n in range(2000)]
        assert log.of(events.ConnectionLost) == []
        assert session.generation == 1
        assert server.connections[0].closed_at is None


# ---------------------------------------------------------------------------- F7


async def test_f7_aclose_flushes_then_sends_close_frame(autojump_clock: trio.abc.Clock) -> None:
    async with memory_server(silent) as server:
        async with tether.connect(URL, config=FAST, opener=server.opener) as session:
            for n in range(100):
                session.send_nowait(f"tail-{n}")
        record = server.connections[0]
        assert record.messages_received == 100
        assert record.close_code == 1000
        assert record.closed_by == "client"


async def test_f7_cancellation_sends_close_1001(autojump_clock: trio.abc.Clock) -> None:
    async with memory_server() as server:
        with trio.move_on_after(5):
            async with tether.connect(URL, config=FAST, opener=server.opener):
                await trio.sleep_forever()
        assert trio.current_time() == 5
        await trio.sleep(1)
        record = server.connections[0]
        assert record.close_code == 1001
        assert record.closed_by == "client"


async def test_f7_body_error_sends_close_1011_and_raises_plain_error(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with memory_server() as server:
        with pytest.raises(ZeroDivisionError):
            async with tether.connect(URL, config=FAST, opener=server.opener):
                _ = 1 / 0
        await trio.sleep(1)
        assert server.connections[0].close_code == 1011


# ---------------------------------------------------------------------------- F8


async def test_f8_send_racing_a_closing_connection_goes_to_next_generation(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with (
        memory_server() as server,
        tether.connect(URL, config=FAST, opener=server.opener) as session,
    ):
        await trio.sleep(10)
        server.drop()  # the connection is dead; the session has not noticed yet
        await session.send("raced")  # must not raise a transport error
        assert await session.receive() == "raced"  # the echo: the server has it
        assert [record.messages for record in server.connections] == [[], ["raced"]]
        assert trio.current_time() == 10
        assert session.generation == 2


# ---------------------------------------------------------------------------- F9


async def test_f9_idle_timeout_catches_a_live_but_stuck_peer(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = Config(ping_interval=1, ping_timeout=1, idle_timeout=10)
    log = EventLog()
    async with (
        memory_server(silent) as server,
        tether.connect(URL, config=config, opener=server.opener, on_event=log),
    ):
        opened = log.of(events.Connected)[0].at
        lost = await log.wait_count(events.ConnectionLost, 1)
        assert lost.reason is LostReason.IDLE_TIMEOUT
        assert lost.at == opened + 10  # pongs kept arriving; they do not reset it
        assert server.connections[0].close_code == 1000  # closed with a Close frame


async def test_f9_each_message_resets_the_idle_deadline(autojump_clock: trio.abc.Clock) -> None:
    async def late_talker(conn: ServerConnection) -> None:
        await trio.sleep(6)
        await conn.send_message("tick")
        await silent(conn)

    log = EventLog()
    config = Config(ping_interval=None, idle_timeout=10)
    async with (
        memory_server(late_talker) as server,
        tether.connect(URL, config=config, opener=server.opener, on_event=log),
    ):
        opened = log.of(events.Connected)[0].at
        lost = await log.wait_count(events.ConnectionLost, 1)
        assert lost.at == opened + 16


# ---------------------------------------------------------------------------- F10


async def test_f10_sends_during_outage_are_buffered_and_flushed_in_order_after_on_connect(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def on_connect(conn: tether.Connection) -> None:
        await conn.send(f"auth-{conn.generation}")

    async with memory_server(silent) as server:
        async with tether.connect(
            URL, config=FAST, opener=server.opener, on_connect=on_connect
        ) as session:
            server.go_down()
            await trio.sleep(1)
            for n in range(50):
                session.send_nowait(f"m{n}")
            await trio.sleep(30)
            assert session.statistics().send_buffered == 50
            server.come_back()
            await session.wait_connected()
            await session.send("last")
        second = server.connections[1].messages
        assert second == ["auth-2", *[f"m{n}" for n in range(50)], "last"]
        with pytest.raises(tether.SessionClosed):
            await session.send("after close")


# ---------------------------------------------------------------------------- F11


async def test_f11_on_connect_gets_what_it_needs_to_resume(
    autojump_clock: trio.abc.Clock,
) -> None:
    seen: list[tuple[int, float | None, int]] = []

    async def on_connect(conn: tether.Connection) -> None:
        seen.append((conn.generation, conn.last_message_at, conn.messages_received))

    async with (
        memory_server() as server,
        tether.connect(URL, config=FAST, opener=server.opener, on_connect=on_connect) as session,
    ):
        await trio.sleep(2)
        await session.send("one")
        await session.receive()
        last = trio.current_time()
        await trio.sleep(3)
        session.reconnect("resume test")
        await session.wait_connected()
    assert seen == [(1, None, 0), (2, last, 1)]


# ---------------------------------------------------------------------------- F12


async def test_f12_connection_lost_once_per_generation_with_its_reason(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    async with (
        memory_server() as server,
        tether.connect(URL, config=FAST, opener=server.opener, on_event=log),
    ):
        server.drop()
        await log.wait_count(events.Connected, 2)
        await server.close(1001, "going away")
        await log.wait_count(events.Connected, 3)
        server.stall()
        await log.wait_count(events.ConnectionLost, 3)
        server.resume()
        await log.wait_count(events.Connected, 4)
    lost = log.of(events.ConnectionLost)
    assert [(e.generation, e.reason, e.code) for e in lost] == [
        (1, LostReason.TRANSPORT_ERROR, 1006),
        (2, LostReason.PEER_CLOSED, 1001),
        (3, LostReason.PING_TIMEOUT, None),
    ]
    for event in lost:  # each one before the next generation's Connecting
        following = log.items[log.items.index(event) + 1 :]
        next_connecting = next(e for e in following if isinstance(e, events.Connecting))
        assert next_connecting.generation == event.generation + 1
        assert not any(
            isinstance(e, events.ConnectionLost) and e.generation == event.generation
            for e in following
        )


async def test_half_open_link_detected_within_ping_interval_plus_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    async with (
        memory_server() as server,
        tether.connect(URL, config=FAST, opener=server.opener, on_event=log) as session,
    ):
        opened = trio.current_time()
        server.stall()
        lost = await log.wait_count(events.ConnectionLost, 1)
        assert lost.reason is LostReason.PING_TIMEOUT
        assert lost.at == opened + 5 + 5
        server.resume()
        await session.wait_connected()
        assert session.generation == 2


# ---------------------------------------------------------------------------- F13


def bounded_jitter_delays(
    draws: random.Random, caps: Sequence[float], initial: float, start: float
) -> list[float]:
    """The default schedule (the Backoff docstring): attempt n >= 2 of an outage that
    began at ``start`` waits ``random.uniform(cap / 2, cap)``, cap = min(step n-1,
    max(initial, outage so far)), the outage measured on the clock as the session does."""
    delays: list[float] = []
    now = start
    for step in caps:
        cap = min(step, max(initial, now - start))
        delays.append(cap / 2 + (cap - cap / 2) * draws.random())
        now += delays[-1]
    return delays


@pytest.mark.parametrize("bounded", [True, False], ids=["bounded jitter (default)", "full jitter"])
async def test_f13_first_retry_immediate_then_jittered_backoff(
    autojump_clock: trio.abc.Clock, bounded: bool
) -> None:
    backoff = (
        Backoff(initial=1, maximum=20)
        if bounded
        else Backoff(initial=1, maximum=20, bounded_jitter=False)
    )
    config = Config(ping_interval=None, backoff=backoff)
    log = EventLog()
    async with (
        memory_server() as server,
        tether.connect(
            URL, config=config, opener=server.opener, on_event=log, rng=random.Random(7)
        ) as session,
    ):
        await trio.sleep(10)
        server.go_down()
        down_at = trio.current_time()
        await log.wait_count(events.BackingOff, 6)
        server.come_back()
        await session.wait_connected()
    # Steps of min(20, 1 * 2 ** (n - 2)) seconds, drawn from the session's rng: full
    # jitter from [0, step]; bounded jitter (the default) as bounded_jitter_delays.
    caps = (1, 2, 4, 8, 16, 20)
    draws = random.Random(7)
    if bounded:
        expected = bounded_jitter_delays(draws, caps, initial=1, start=down_at)
    else:
        expected = [cap * draws.random() for cap in caps]
    backing_off = log.of(events.BackingOff)
    assert [e.delay for e in backing_off[:6]] == expected
    attempts = [e for e in log.of(events.Connecting) if e.generation == 2]
    assert attempts[0].at == down_at  # first retry immediate
    assert [e.at for e in attempts[1:7]] == list(itertools.accumulate(expected, initial=down_at))[
        1:
    ]


async def test_f13_url_failover_tries_each_url_in_order(autojump_clock: trio.abc.Clock) -> None:
    async with memory_server() as server:

        async def opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
            if host == "primary.test":
                raise ConnectionRefusedError("primary is down")
            return await server.opener(host, port, tls)

        log = EventLog()
        async with tether.connect(
            ["ws://primary.test/", "ws://backup.test/"], config=FAST, opener=opener, on_event=log
        ) as session:
            assert [e.url for e in log.of(events.Connecting)] == [
                "ws://primary.test/",
                "ws://backup.test/",
            ]
            assert log.of(events.Connected)[0].url == "ws://backup.test/"
            assert session.generation == 1


async def test_give_up_after_one_virtual_hour(autojump_clock: trio.abc.Clock) -> None:
    config = Config(give_up_after=3600, backoff=Backoff(jitter=False))
    async with memory_server() as server:
        server.go_down()
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(URL, config=config, opener=server.opener):
                pytest.fail("must not enter")
        # Attempts at 0, then after 0.5, 1, 2, 4, 8, 16 s (at 31.5), then every 30 s
        # (the cap) from 61.5 to 3571.5, and a last one at 3600 after the 28.5 s left.
        assert trio.current_time() == 3600
        assert isinstance(raised.value.__cause__, ConnectionRefusedError)
        assert server.refused_attempts == 7 + len(range(615, 35716, 300)) + 1 == 126


# ---------------------------------------------------------------------------- F14


async def test_f14_reconnect_failed_carries_last_error_and_gave_up_is_emitted(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    config = Config(ping_interval=None, max_attempts=3, backoff=Backoff(jitter=False))
    async with memory_server() as server:
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(
                URL, config=config, opener=server.opener, on_event=log
            ) as session:
                await trio.sleep(10)
                server.go_down()
                async for _ in session:
                    pass
    error = raised.value
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert error.last_error is error.__cause__
    gave_up = log.of(events.GaveUp)
    assert len(gave_up) == 1 and gave_up[0].error is error.__cause__
    assert len([e for e in log.of(events.Connecting) if e.generation == 2]) == 3
    assert log.kinds()[-2:] == ["GaveUp", "Closed"]


# ---------------------------------------------------------------------------- handshakes


async def test_401_raises_handshake_rejected_after_exactly_one_attempt(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with memory_server() as server:
        server.reject(1, status=401, headers={"WWW-Authenticate": "Bearer"})
        with pytest.raises(tether.HandshakeRejected) as raised:
            async with tether.connect(URL, config=FAST, opener=server.opener):
                pytest.fail("must not enter")
        assert raised.value.status_code == 401
        assert raised.value.headers["www-authenticate"] == "Bearer"
        assert len(server.connections) == 1
        assert trio.current_time() == 0


async def test_503_retry_after_is_honoured_exactly(autojump_clock: trio.abc.Clock) -> None:
    log = EventLog()
    async with memory_server() as server:
        server.reject(1, status=503, headers={"Retry-After": "7"})
        async with tether.connect(URL, config=FAST, opener=server.opener, on_event=log):
            connecting = log.of(events.Connecting)
            assert [e.at for e in connecting] == [0, 7]
            backing_off = log.of(events.BackingOff)[0]
            assert backing_off.delay == 7
            assert isinstance(backing_off.error, tether.HandshakeRejected)
            assert backing_off.error.status_code == 503


async def test_service_restart_close_skips_the_immediate_retry(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    async with (
        memory_server() as server,
        tether.connect(URL, config=FAST, opener=server.opener, on_event=log) as session,
    ):
        await trio.sleep(10)
        await server.close(1012, "service restart")
        await session.wait_connected()
    backing_off = log.of(events.BackingOff)
    assert [(e.attempt, e.delay) for e in backing_off] == [(1, 1.0)]
    assert log.of(events.Connected)[1].at == 11
