"""Session semantics beyond the failure catalogue: overflow policies, cancellation,
codecs, bad input from the peer, connect timeouts, headers, statistics, events."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing
import wsproto
from wsproto.events import AcceptConnection, Request

import tether
from tether import Backoff, Config, LostReason, Overflow, events
from tether.testing import MemoryServer, ServerConnection, memory_server

from .helpers import EventLog, silent

URL = "ws://tether.test/"
QUIET = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=8, jitter=False))


def received(server: MemoryServer) -> list[str | bytes]:
    """Every message the server received, over all its connections, in order."""
    return [message for record in server.connections for message in record.messages]


# ---------------------------------------------------------------------------- overflow


async def test_overflow_raise_refuses_the_new_message(autojump_clock: trio.abc.Clock) -> None:
    config = attrs.evolve(QUIET, send_buffer=2, overflow=Overflow.RAISE)
    async with (
        memory_server() as server,
        tether.connect(URL, config=config, opener=server.opener) as session,
    ):
        server.go_down()
        await trio.sleep(0.5)
        session.send_nowait("a")
        session.send_nowait("b")
        with pytest.raises(tether.SendBufferFull):
            session.send_nowait("c")
        with pytest.raises(trio.WouldBlock):  # the Trio convention for *_nowait
            session.send_nowait("c")
        with pytest.raises(tether.SendBufferFull):
            await session.send("c")
        assert session.statistics().send_buffered == 2


async def test_overflow_drop_oldest_reports_every_eviction(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = attrs.evolve(QUIET, send_buffer=3, overflow=Overflow.DROP_OLDEST)
    log = EventLog()
    async with memory_server(silent) as server:
        async with tether.connect(
            URL, config=config, opener=server.opener, on_event=log
        ) as session:
            server.go_down()
            await trio.sleep(0.5)
            dropped_waiter: list[BaseException] = []

            async def waiting_sender() -> None:
                try:
                    await session.send("m0")
                except tether.MessageDropped as exc:
                    dropped_waiter.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(waiting_sender)
                await trio.sleep(0.1)
                for n in range(1, 6):
                    session.send_nowait(f"m{n}")
            assert len(dropped_waiter) == 1
            assert sum(e.count for e in log.of(events.MessagesDropped)) == 3
            assert session.statistics().messages_dropped == 3
            server.come_back()
            await session.wait_connected()
        assert received(server) == ["m3", "m4", "m5"]


async def test_overflow_drop_oldest_by_an_awaited_send_reports_it_too(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = attrs.evolve(QUIET, send_buffer=2, overflow=Overflow.DROP_OLDEST)
    log = EventLog()
    async with memory_server(silent) as server:
        async with tether.connect(
            URL, config=config, opener=server.opener, on_event=log
        ) as session:
            server.go_down()
            await trio.sleep(0.5)
            session.send_nowait("m1")
            session.send_nowait("m2")
            assert log.of(events.MessagesDropped) == []

            async def restore() -> None:
                await trio.sleep(10)
                server.come_back()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(restore)
                await session.send("m3")  # evicts m1, then waits for its own write
                assert trio.current_time() >= 10.5
            [dropped] = log.of(events.MessagesDropped)
            assert (dropped.count, dropped.generation, dropped.at) == (1, 1, 0.5)
            assert session.statistics().messages_dropped == 1
        assert received(server) == ["m2", "m3"]


async def test_overflow_block_waits_for_room(autojump_clock: trio.abc.Clock) -> None:
    config = attrs.evolve(QUIET, send_buffer=1)
    async with (
        memory_server() as server,
        tether.connect(URL, config=config, opener=server.opener) as session,
    ):
        server.go_down()
        await trio.sleep(0.5)
        session.send_nowait("first")
        with pytest.raises(tether.SendBufferFull):
            session.send_nowait("second")

        async def restore() -> None:
            await trio.sleep(10)
            server.come_back()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(restore)
            await session.send("second")  # waits for room, then for its own write
        assert session.generation == 2
        assert trio.current_time() >= 10.5
        assert [await session.receive(), await session.receive()] == ["first", "second"]


async def test_cancelled_send_withdraws_its_message(autojump_clock: trio.abc.Clock) -> None:
    async with memory_server(silent) as server:
        async with tether.connect(URL, config=QUIET, opener=server.opener) as session:
            server.go_down()
            await trio.sleep(0.5)
            with trio.move_on_after(1):
                await session.send("withdrawn")
            assert session.statistics().send_buffered == 0
            server.come_back()
            await session.send("kept")
        assert received(server) == ["kept"]


# ---------------------------------------------------------------------------- close


async def test_aclose_during_outage_waits_for_reconnect_to_flush(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = attrs.evolve(QUIET, close_timeout=5)
    async with memory_server(silent) as server:
        async with tether.connect(URL, config=config, opener=server.opener) as session:
            server.go_down()
            await trio.sleep(0.5)
            session.send_nowait("pending")

            async def restore() -> None:
                await trio.sleep(2)
                server.come_back()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(restore)
                await session.aclose()
        assert received(server) == ["pending"]
        assert server.connections[-1].close_code == 1000


async def test_aclose_reports_what_it_could_not_flush(autojump_clock: trio.abc.Clock) -> None:
    log = EventLog()
    config = attrs.evolve(QUIET, close_timeout=3)
    async with (
        memory_server() as server,
        tether.connect(URL, config=config, opener=server.opener, on_event=log) as session,
    ):
        server.go_down()
        await trio.sleep(0.5)
        failures: list[BaseException] = []

        async def sender() -> None:
            try:
                await session.send("lost at close")
            except tether.SessionClosed as exc:
                failures.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            session.send_nowait("also lost")
            await trio.sleep(0.1)
            closing_at = trio.current_time()
            await session.aclose()
        assert trio.current_time() == pytest.approx(closing_at + 3)
        assert len(failures) == 1
        dropped = log.of(events.MessagesDropped)
        assert [e.count for e in dropped] == [2]
        assert log.kinds()[-1] == "Closed"
        assert session.state is tether.State.CLOSED


async def test_fatal_error_unseen_by_body_is_raised_on_exit(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with memory_server() as server:
        with pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(URL, config=QUIET, opener=server.opener):
                await server.close(1008, "policy violation")
                await trio.sleep(1)
        cause = raised.value.__cause__
        assert isinstance(cause, tether.ConnectionLostError)
        assert cause.reason is LostReason.PEER_CLOSED
        assert cause.code == 1008


async def test_iteration_ends_when_another_task_closes(autojump_clock: trio.abc.Clock) -> None:
    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener) as session,
    ):
        await session.send("one")
        seen = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(session.aclose)
            async for message in session:
                seen.append(message)
        assert seen == ["one"]
        with pytest.raises(tether.SessionClosed):
            session.reconnect()


# ---------------------------------------------------------------------------- codec


@attrs.frozen
class Tick:
    symbol: str
    price: float


async def test_json_codec_round_trip_and_decode_error_keeps_raw(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def handler(conn: ServerConnection) -> None:
        await conn.send_message("{not json")
        await conn.send_message('{"symbol": "X", "price": "cheap"}')
        while True:
            await conn.send_message(await conn.get_message())

    async with (
        memory_server(handler) as server,
        tether.connect(
            URL, config=QUIET, opener=server.opener, codec=tether.JsonCodec(Tick)
        ) as session,
    ):
        with pytest.raises(tether.DecodeError) as bad_json:
            await session.receive()
        assert bad_json.value.raw == "{not json"
        with pytest.raises(tether.DecodeError) as bad_shape:
            await session.receive()
        assert "price" in bad_shape.value.raw
        await session.send(Tick("ABC", 1.5))
        assert await session.receive() == Tick("ABC", 1.5)
        assert session.generation == 1


async def test_non_message_types_raise_type_error(autojump_clock: trio.abc.Clock) -> None:
    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener) as session,
    ):
        with pytest.raises(TypeError, match="str or bytes"):
            await session.send({"not": "encoded"})
        with pytest.raises(TypeError):
            session.send_nowait(42)


# ---------------------------------------------------------------------------- bad peers


async def test_oversized_inbound_message_is_a_protocol_error_and_fatal(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def handler(conn: ServerConnection) -> None:
        await conn.send_message(b"x" * 2048)
        await trio.sleep_forever()

    log = EventLog()
    config = attrs.evolve(QUIET, max_message_size=1024)
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with (
            memory_server(handler) as server,
            tether.connect(URL, config=config, opener=server.opener, on_event=log) as session,
        ):
            await session.receive()
    (lost,) = log.of(events.ConnectionLost)
    assert (lost.reason, lost.code) == (LostReason.PROTOCOL_ERROR, 1009)
    assert lost.detail == (
        "a message of 2,048 bytes exceeds max_message_size=1,024 (Config.max_message_size)"
    )
    assert raised.value.last_error is not None
    assert lost.detail in str(raised.value)
    assert session.generation == 1


def _garbage_after_handshake_opener(garbage: bytes, nursery: trio.Nursery) -> tether.Opener:
    """An opener whose server completes the handshake with wsproto, then sends bytes
    that are not a valid WebSocket frame."""

    async def serve(stream: trio.abc.Stream) -> None:
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while True:
            ws.receive_data(await stream.receive_some())
            if any(isinstance(e, Request) for e in ws.events()):
                break
        await stream.send_all(ws.send(AcceptConnection()) + garbage)
        await trio.sleep_forever()

    async def opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
        client, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(serve, server_end)
        return client

    return opener


async def test_garbage_frame_is_a_protocol_error_not_a_crash(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    log = EventLog()
    config = attrs.evolve(QUIET, max_attempts=2)
    opener = _garbage_after_handshake_opener(b"\x8f\xff\xff\xff", nursery)
    with pytest.raises(tether.ReconnectFailed):
        async with tether.connect(URL, config=config, opener=opener, on_event=log) as session:
            await session.receive()
    lost = log.of(events.ConnectionLost)
    assert [(e.reason, e.code) for e in lost] == [(LostReason.PROTOCOL_ERROR, 1002)] * 2
    # A connection that fails at once does not end the outage: the retry backs off
    # (no tight reconnect loop) and max_attempts counts it.
    assert log.of(events.BackingOff)[0].delay == 1
    assert trio.current_time() == 1


async def test_unanswered_upgrade_times_out_at_connect_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    ends: list[trio.abc.Stream] = []

    async def black_hole(host: str, port: int, tls: bool) -> trio.abc.Stream:
        client, server_end = trio.testing.memory_stream_pair()
        ends.append(server_end)  # accepted, never answered
        return client

    log = EventLog()
    config = attrs.evolve(QUIET, connect_timeout=4, max_attempts=2)
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(URL, config=config, opener=black_hole, on_event=log):
            pytest.fail("must not enter")
    assert isinstance(raised.value.__cause__, TimeoutError)
    backing_off = log.of(events.BackingOff)
    assert backing_off[0].at == 4
    assert isinstance(backing_off[0].error, TimeoutError)
    assert backing_off[0].delay == 1  # the initial connect was attempt 1: one step
    assert trio.current_time() == 4 + 1 + 4


async def test_server_closing_during_handshake_fails_fast(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def hang_up(host: str, port: int, tls: bool) -> trio.abc.Stream:
        client, server_end = trio.testing.memory_stream_pair()
        await server_end.aclose()
        return client

    config = attrs.evolve(QUIET, connect_timeout=30, max_attempts=1)
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(URL, config=config, opener=hang_up):
            pytest.fail("must not enter")
    assert isinstance(raised.value.__cause__, ConnectionResetError)
    assert trio.current_time() == 0


# ---------------------------------------------------------------------------- handshake


async def test_async_headers_are_fetched_for_every_attempt(
    autojump_clock: trio.abc.Clock,
) -> None:
    tokens = iter(range(1, 100))

    async def fresh_token() -> dict[str, str]:
        return {"Authorization": f"Bearer t{next(tokens)}"}

    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener, headers=fresh_token) as session,
    ):
        session.reconnect()
        await session.wait_connected()
        assert [c.headers["authorization"] for c in server.connections] == [
            "Bearer t1",
            "Bearer t2",
        ]


async def test_bad_arguments_fail_before_any_io(autojump_clock: trio.abc.Clock) -> None:
    calls = 0

    async def opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
        nonlocal calls
        calls += 1
        raise AssertionError("must not be called")

    for url in ("http://x/", "ws://", [], "ws://a/#frag"):
        with pytest.raises(tether.ConfigError):
            async with tether.connect(url, opener=opener):  # type: ignore[arg-type]
                pass
    with pytest.raises(tether.ConfigError, match="config"):
        async with tether.connect(URL, opener=opener, config={"ping_interval": 1}):  # type: ignore[arg-type]
            pass
    assert calls == 0


# ---------------------------------------------------------------------------- observability


async def test_statistics_count_downtime_in_virtual_seconds(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = attrs.evolve(QUIET, backoff=Backoff(initial=4, maximum=4, jitter=False))
    async with (
        memory_server() as server,
        tether.connect(URL, config=config, opener=server.opener) as session,
    ):
        await trio.sleep(10)
        server.go_down()
        await trio.sleep(6)  # attempts at +0 (refused), +4 (refused), +8 ...
        server.come_back()
        await session.wait_connected()
        stats = session.statistics()
        assert stats.downtime == 8
        assert stats.generation == 2
        assert stats.reconnects == 1
        assert stats.lost == {LostReason.TRANSPORT_ERROR: 1}
        assert stats.attempts == 1 + 3
        assert stats.connected_since == 18


async def test_events_subscription_never_blocks_the_session(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener) as session,
    ):
        tiny = session.events(max_buffer=2)
        for _ in range(3):
            session.reconnect()
            await session.wait_connected()
        assert session.statistics().events_dropped > 0
        first = tiny.receive_nowait()
        assert isinstance(first, events.ConnectionLost)
        assert first.reason is LostReason.SUPERSEDED
        full = session.events()
    rest = [event async for event in full]
    assert isinstance(rest[-1], events.Closed)
    assert rest[-1].code == 1000


async def test_last_rtt_is_the_ping_round_trip(autojump_clock: trio.abc.Clock) -> None:
    config = attrs.evolve(QUIET, ping_interval=5, ping_timeout=5)
    async with (
        memory_server() as server,
        tether.connect(URL, config=config, opener=server.opener) as session,
    ):
        assert session.statistics().last_rtt is None
        server.slow(0.5)  # every chunk takes 0.5 s each way
        await trio.sleep(6.5)  # the first ping goes out at +5 and is answered at +6
        assert session.statistics().last_rtt == 1.0


async def test_a_failing_on_event_callback_does_not_break_the_session(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: events.Event) -> None:
        raise RuntimeError("bug in the user's logger")

    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener, on_event=broken) as session,
    ):
        await session.send("still fine")
        assert await session.receive() == "still fine"
    assert "on_event callback raised" in caplog.text


async def test_messages_before_a_protocol_violation_are_delivered(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    """The reader hands over what the same read completed before the bad frame, then
    fails the connection (the frames arrive in one chunk)."""
    log = EventLog()
    config = attrs.evolve(QUIET, max_attempts=1)
    frames = b"\x81\x05first" + b"\x81\x06second" + b"\x83\x00"  # then opcode 0x3: 1002
    opener = _garbage_after_handshake_opener(frames, nursery)
    received: list[object] = []
    with pytest.raises(tether.ReconnectFailed):
        async with tether.connect(URL, config=config, opener=opener, on_event=log) as session:
            while True:
                received.append(await session.receive())
    assert received == ["first", "second"]
    assert [(e.reason, e.code) for e in log.of(events.ConnectionLost)] == [
        (LostReason.PROTOCOL_ERROR, 1002)
    ]


async def test_closing_during_on_connect_with_its_queue_full_does_not_wait_out_the_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    """More than 64 messages arrived for an on_connect that is still running when the
    session closes: the reader drops them and reads on to the server's Close."""

    async def chatty(conn: ServerConnection) -> None:
        for n in range(100):
            await conn.send_message(f"m{n}")
        await silent(conn)

    async def on_connect(conn: tether.Connection) -> None:
        if conn.generation >= 2:
            await trio.sleep(100)  # say, waiting on an auth service

    config = attrs.evolve(QUIET, close_timeout=5, connect_timeout=None)
    async with memory_server(chatty) as server:
        async with tether.connect(
            URL, config=config, opener=server.opener, on_connect=on_connect
        ) as session:
            session.reconnect()
            await trio.sleep(1)  # generation 2's on_connect is waiting
            started = trio.current_time()
            await session.aclose()
            assert trio.current_time() == started  # not after close_timeout (5 s)
        assert server.connections[1].close_code == 1000


async def test_a_ping_unanswered_when_the_link_drops_is_not_a_round_trip(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = Config(ping_interval=1, ping_timeout=10)
    log = EventLog()
    async with (
        memory_server(silent) as server,
        tether.connect(URL, config=config, opener=server.opener, on_event=log) as session,
    ):
        await trio.sleep(1.5)
        assert session.statistics().last_rtt == 0.0  # answered at once (virtual)
        server.stall()  # the ping at t=2 gets no pong
        await trio.sleep(4)
        server.drop()  # ... and the link ends with it outstanding, at t=5.5
        lost = await log.wait_count(events.ConnectionLost, 1)
        assert lost.reason is LostReason.TRANSPORT_ERROR
        assert session.statistics().last_rtt == 0.0  # not 3.5


# ---------------------------------------------------------------------------- the handle


async def test_a_kept_handle_raises_connection_lost_once_its_connection_ended(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The ``on_connect`` handle, kept to ping from elsewhere (as ``tether connect``'s
    ``/ping`` does): it pings while its connection is open, and ``ping()`` and
    ``send()`` raise ``ConnectionLostError``, saying how it ended, once it has ended,
    even with the session connected again."""
    handles: list[tether.Connection] = []

    async def on_connect(connection: tether.Connection) -> None:
        handles.append(connection)

    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener, on_connect=on_connect) as session,
    ):
        first = handles[0]
        server.slow(0.5)
        assert await first.ping() == 1.0  # 0.5 s each way, on the virtual clock
        server.slow(None)
        await server.close(4000, "moving")
        await server.wait_connections(2)
        await trio.sleep(0.1)
        assert session.generation == 2 and len(handles) == 2
        for action in (first.ping, lambda: first.send("late")):
            with pytest.raises(tether.ConnectionLostError) as lost:
                await action()
            assert (lost.value.reason, lost.value.code) == (LostReason.PEER_CLOSED, 4000)
        assert await handles[1].ping() == 0.0
        assert received(server) == []  # "late" went nowhere


async def test_a_handle_ping_waiting_when_the_link_drops_raises(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    handles: list[tether.Connection] = []

    async def on_connect(connection: tether.Connection) -> None:
        handles.append(connection)

    outcome: list[BaseException] = []

    async def ping() -> None:
        try:
            await handles[0].ping()
        except tether.ConnectionLostError as error:
            outcome.append(error)

    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener, on_connect=on_connect),
    ):
        server.stall()
        nursery.start_soon(ping)
        await trio.sleep(3)
        assert outcome == []  # no pong, no answer: still waiting
        server.drop()
        await trio.testing.wait_all_tasks_blocked()
        [error] = outcome
        assert isinstance(error, tether.ConnectionLostError)
        assert (error.reason, error.code) == (LostReason.TRANSPORT_ERROR, 1006)


async def test_the_handle_receives_only_during_on_connect(
    autojump_clock: trio.abc.Clock,
) -> None:
    handles: list[tether.Connection] = []

    async def on_connect(connection: tether.Connection) -> None:
        handles.append(connection)

    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener, on_connect=on_connect) as session,
    ):
        await session.send("to the session")
        with pytest.raises(RuntimeError, match=r"^Connection\.receive\(\) is for on_connect only"):
            await handles[0].receive()
        assert await session.receive() == "to the session"  # not taken by the handle
