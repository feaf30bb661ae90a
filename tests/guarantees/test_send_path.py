"""The send path keeps every message and its order across a lost connection
(docs/design.md, "Send, receive, close"): a batch whose write failed or was cut off
stays at the head of the send buffer and is written again on the next generation, and a
direct write that found its connection dead goes back ahead of everything queued."""

from __future__ import annotations

import trio
import trio.testing

import tether
from tether import Backoff, Config, LostReason, events
from tether.testing import memory_server

from ..helpers import EventLog, silent
from .streams import ScriptedStream, scripted_opener

URL = "ws://tether.test/"
CONFIG = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=8, jitter=False))


async def test_a_batch_cut_off_mid_write_is_written_again_next_generation(
    autojump_clock: trio.abc.Clock,
) -> None:
    streams: list[ScriptedStream] = []
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server(silent) as server,
            tether.connect(
                URL, config=CONFIG, opener=scripted_opener(server, streams), on_event=log
            ) as session,
        ):
            streams[0].cut_writes()
            for message in ("m1", "m2", "m3"):
                session.send_nowait(message)  # one coalesced batch for the writer task
            await trio.testing.wait_all_tasks_blocked()
            assert streams[0].held == 1  # the batch's send_all is stuck half-way
            session.reconnect()  # cancels the writer mid-write
            await session.wait_connected()
            await server.wait_connections(2)
            await trio.testing.wait_all_tasks_blocked()  # the writer is done
            assert session.statistics().messages_sent == 3
            assert session.statistics().send_buffered == 0
        first, second = server.connections
        # A cut frame leaves garbage on the stream: no Close frame, the link is aborted.
        assert first.close_code == 1006
        # The whole batch again, in order, on the next generation (at-least-once: m1
        # reached the first connection too).
        assert second.messages == ["m1", "m2", "m3"]
        # Half of the batch's 24 bytes (three 8-byte frames) went out: m1 whole.
        assert first.messages == ["m1"]
    assert [e.generation for e in log.of(events.Connected)] == [1, 2]


async def test_a_send_whose_direct_write_failed_goes_back_ahead_of_later_sends(
    autojump_clock: trio.abc.Clock,
) -> None:
    streams: list[ScriptedStream] = []
    log = EventLog()
    with trio.fail_after(60):
        async with (
            memory_server(silent) as server,
            tether.connect(
                URL, config=CONFIG, opener=scripted_opener(server, streams), on_event=log
            ) as session,
        ):
            streams[0].break_writes()
            returned: list[tuple[float, str]] = []

            async def send(message: str) -> None:
                await session.send(message)
                returned.append((trio.current_time(), message))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send, "first")  # the direct path: the buffer is empty
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(send, "second")  # a write is under way: queued
                await trio.testing.wait_all_tasks_blocked()
                assert session.statistics().send_buffered == 1
                streams[0].release()  # the direct write fails: the link is dead
            # Lost at t=0 after 0 s open: the outage goes on, attempt 2 waits 1 s.
            assert trio.current_time() == 1
        assert server.connections[0].messages == []
        assert server.connections[1].messages == ["first", "second"]
    # Both returned once written at t=1 (the order two woken tasks run in is trio's).
    assert sorted(returned) == [(1, "first"), (1, "second")]
    lost = log.of(events.ConnectionLost)
    assert [(e.generation, e.reason) for e in lost] == [(1, LostReason.TRANSPORT_ERROR)]


async def test_a_batch_whose_write_failed_is_written_again_next_generation(
    autojump_clock: trio.abc.Clock,
) -> None:
    streams: list[ScriptedStream] = []
    log = EventLog()
    async with (
        memory_server(silent) as server,
        tether.connect(
            URL, config=CONFIG, opener=scripted_opener(server, streams), on_event=log
        ) as session,
    ):
        streams[0].break_writes()
        for message in ("m1", "m2", "m3"):
            session.send_nowait(message)  # one batch for the writer task
        await trio.testing.wait_all_tasks_blocked()
        assert streams[0].held == 1
        streams[0].release()  # the batch's write fails: nothing of it went out
        await server.wait_connections(2)
        await trio.testing.wait_all_tasks_blocked()
        assert session.statistics().messages_sent == 3
        first, second = server.connections
        assert first.messages == []
        assert second.messages == ["m1", "m2", "m3"]
    [lost] = log.of(events.ConnectionLost)
    assert (lost.generation, lost.reason) == (1, LostReason.TRANSPORT_ERROR)
    assert "reset by the test" in lost.detail


async def test_a_direct_send_cancelled_mid_write_ends_the_connection(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A partial frame cannot be taken back: the generation ends (its stream aborted,
    no Close frame after the garbage), the session reconnects, and the cancelled
    message is not written again (the Trio meaning of a cancelled send, for the part
    that can still be kept)."""
    streams: list[ScriptedStream] = []
    log = EventLog()
    async with (
        memory_server(silent) as server,
        tether.connect(
            URL, config=CONFIG, opener=scripted_opener(server, streams), on_event=log
        ) as session,
    ):
        streams[0].cut_writes()
        with trio.move_on_after(2) as scope:
            await session.send("cut off")  # the direct path: nothing queued
        assert scope.cancelled_caught and streams[0].held == 1
        await server.wait_connections(2)
        await session.send("after")
        await trio.testing.wait_all_tasks_blocked()
        first, second = server.connections
        assert first.close_code == 1006 and first.messages == []
        assert second.messages == ["after"]
    [lost] = log.of(events.ConnectionLost)
    assert (lost.generation, lost.reason) == (1, LostReason.TRANSPORT_ERROR)
    assert lost.detail == "a send() was cancelled mid-write"
    # Lost at 2 s, open for less than stable_after (5 s): the outage goes on, attempt 2
    # waits 1 s.
    assert trio.current_time() == 3


async def test_a_direct_write_that_fails_after_the_session_closed_raises_session_closed(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The write was under way when ``aclose()`` gave up waiting for it (the Close frame
    waits for its turn behind it, ``close_timeout``); when it fails, there is no next
    generation to put the message back for: ``send()`` raises ``SessionClosed``."""
    streams: list[ScriptedStream] = []
    outcome: list[BaseException] = []

    async def send(session: tether.Session) -> None:
        try:
            await session.send("stuck")
        except tether.SessionClosed as error:
            outcome.append(error)

    async with (
        memory_server(silent) as server,
        tether.connect(URL, config=CONFIG, opener=scripted_opener(server, streams)) as session,
    ):
        streams[0].break_writes()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send, session)  # the direct path
            await trio.testing.wait_all_tasks_blocked()
            await session.aclose()
            # close_timeout (5 s) for the handshake, then 1 s for the Close frame alone.
            assert trio.current_time() == 6
            assert outcome == []
            streams[0].release()
    [error] = outcome
    assert type(error) is tether.SessionClosed
    assert server.connections[0].messages == []


async def test_a_direct_send_cancelled_before_its_turn_writes_nothing_and_keeps_the_link(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A keepalive ping's write holds the connection's write turn; a send() waiting for
    the turn is cancelled: nothing of it was written, so the connection goes on."""
    streams: list[ScriptedStream] = []
    log = EventLog()
    config = Config(ping_interval=1, ping_timeout=10, backoff=Backoff(initial=1, jitter=False))
    async with (
        memory_server(silent) as server,
        tether.connect(
            URL, config=config, opener=scripted_opener(server, streams), on_event=log
        ) as session,
    ):
        streams[0].hold_writes()
        await trio.sleep(1.5)
        assert streams[0].held == 1  # the ping at 1 s
        with trio.move_on_after(1) as scope:
            await session.send("never")  # the direct path: nothing queued
        assert scope.cancelled_caught
        streams[0].release()
        await session.send("after")
        await trio.testing.wait_all_tasks_blocked()
        assert session.generation == 1
        # The held ping, from 1 s to its write at 2.5 s and the pong right after.
        assert session.statistics().last_rtt == 1.5
    assert server.connections[0].messages == ["after"]
    assert log.of(events.ConnectionLost) == []
