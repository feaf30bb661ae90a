"""Soak: a one-hour seeded fault plan against a session that talks throughout.

Everything runs on ``autojump_clock`` against ``tether.testing``'s memory server, so the
virtual hour (and a bit) takes a second or two of real time, and every time asserted is
exact.
"""

from __future__ import annotations

import gc
import math
import random
from collections import Counter
from collections.abc import Iterator

import attrs
import pytest
import trio
import trio.testing

import tether
from tether import Config, LostReason, State, events
from tether.session._alarms import ALARM_TASK_NAME, live_alarms
from tether.testing import (
    Close,
    Drop,
    Fault,
    FaultPlan,
    MemoryServer,
    Refuse,
    Reject,
    Restart,
    Stall,
    memory_server,
)

from .helpers import EventRecorder

URL = "ws://soak.test/"
KINDS = (Drop, Close, Stall, Reject, Restart, Refuse)
PING_INTERVAL = 5.0
PING_TIMEOUT = 5.0
CONFIG = Config(ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, close_timeout=5)
#: Seconds between two messages of the sender.
SEND_EVERY = 1.0
#: Float slack when comparing virtual times computed two ways (sums of sleeps).
EPS = 1e-6


# ---------------------------------------------------------------------- helpers


def task_names(task: trio.lowlevel.Task) -> Iterator[str]:
    """``task`` and every task below it, by name (depth first)."""
    yield task.name
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            yield from task_names(child)


def all_tasks() -> Counter[str]:
    """Every task of the run by name, but for the run's one alarm task (a service of
    the Trio run, started by the first session; :func:`live_alarms` checks it holds
    nothing of a closed session)."""
    names = Counter(task_names(trio.lowlevel.current_root_task()))
    del names[ALARM_TASK_NAME]
    return names


def find_task(suffix: str) -> trio.lowlevel.Task:
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task.name.endswith(suffix):
            return task
        stack.extend(child for n in task.child_nurseries for child in n.child_tasks)
    raise LookupError(suffix)


def live_memory_channels() -> int:
    gc.collect()
    kinds = (trio.MemorySendChannel, trio.MemoryReceiveChannel)
    return sum(isinstance(obj, kinds) for obj in gc.get_objects())


@attrs.frozen
class Expected:
    """The ConnectionLost a fault must cause, or ``None`` for no loss at all."""

    reason: LostReason
    code: int | None
    at: float


AMBIGUOUS = object()


def expected_loss(
    fault: Fault, applied_at: float, open_since: float | None
) -> Expected | object | None:
    """What ``fault`` applied at ``applied_at`` must do to the session, given since when
    its current generation has been open (``None``: no generation was open).

    Pings go out every ``PING_INTERVAL`` from the moment a generation opens and the
    memory link answers them in no time, so a stall is noticed at exactly the first
    ping at or after the stall, plus ``PING_TIMEOUT``, if the stall still lasts then.
    Returns ``AMBIGUOUS`` when two of those instants coincide (within ``EPS``): then
    the order of two same-instant events decides, and the test asserts nothing.
    """
    if open_since is None or isinstance(fault, (Refuse, Reject)):
        return None
    if isinstance(fault, (Drop, Restart)):
        return Expected(LostReason.TRANSPORT_ERROR, 1006, applied_at)
    if isinstance(fault, Close):
        return Expected(LostReason.PEER_CLOSED, fault.code, applied_at)
    assert isinstance(fault, Stall)
    pings = math.ceil((applied_at - open_since) / PING_INTERVAL)
    first_ping = open_since + pings * PING_INTERVAL
    detected = first_ping + PING_TIMEOUT
    resumed = applied_at + fault.duration
    if abs(first_ping - applied_at) < EPS or abs(detected - resumed) < EPS:
        return AMBIGUOUS
    if detected < resumed:
        return Expected(LostReason.PING_TIMEOUT, None, detected)
    return None


@attrs.define
class Ledger:
    """The application's view of its messages, by number (0, 1, 2 ...)."""

    issued: int = 0
    echoes: list[int] = attrs.Factory(list)
    echoed: set[int] = attrs.Factory(set)
    replayed: list[int] = attrs.Factory(list)
    changed: trio.lowlevel.ParkingLot = attrs.Factory(trio.lowlevel.ParkingLot)


# ------------------------------------------------------------------------ the test


@pytest.mark.parametrize("seed", [2, 3, 6])
async def test_one_hour_fault_plan(autojump_clock: trio.abc.Clock, seed: int) -> None:
    """A one-hour plan of drops, closes, stalls, rejects, refusals and restarts (a fault
    every three virtual minutes on average, ``FaultPlan.random(seed, ...)``) against a
    session that sends a numbered message every second and reads the echoes.

    Messages. tether guarantees that every message given to ``send()`` is *written* to
    a live connection, in order; a write cut off by a lost connection is written again
    on the next generation (at-least-once, for that one message). It cannot know whether
    the *server* got a written message: bytes written into a link that then stalls or
    is reset are lost by the network, and no client can tell. So the application
    acknowledges at its own layer, by hand here (``tether.delivery`` does it for a
    dialect; ``tether demo`` runs on it): the echo is the acknowledgement, and
    ``on_connect`` replays, oldest first and ahead of the send buffer, every message
    that was written but not echoed. (The message the sender is
    still waiting on while it sits in the send buffer is not replayed: the session will
    write it itself; the sender awaits each ``send()``, so the buffer holds at most that
    one.) The assertion: every message 0..N-1 is echoed; the echoes, with runs of the
    same number collapsed, are exactly 0, 1, ..., N-1 (nothing lost, nothing reordered);
    and the only duplicates are adjacent ones, at most one per lost connection (the
    at-least-once rewrite; over the memory link a chunk arrives whole or not at all, so
    in practice there are none).

    Connection losses. Each ``ConnectionLost`` is matched to the fault applied before it
    (events are stamped with how many faults had been applied when they were emitted):
    Drop and Restart give TRANSPORT_ERROR (1006) at the fault's instant, Close gives
    PEER_CLOSED with its code at the fault's instant, a Stall gives PING_TIMEOUT at the
    first ping after it plus ``ping_timeout`` if it lasts that long, else nothing;
    Reject and Refuse end no connection, and only show up as ``BackingOff`` with their
    error (and a 503's ``Retry-After`` as the delay). A fault applied while no
    generation is open ends nothing. After a Restart nothing connects before the server
    is back.

    Leftovers. While a generation is open and every task is blocked, the session's task
    tree is the same as generation 1's (no task of an old generation survives); after
    the session and the server are closed, the whole task tree and the number of live
    memory channels are what they were before, and the ``events()`` subscription has
    ended (its sender closed) having seen every event ``on_event`` saw.
    """
    plan = FaultPlan.random(seed, duration=3600, mean_interval=180, kinds=KINDS)
    assert {type(item.fault) for item in plan.faults} == set(KINDS)  # the seed covers all
    tasks_before = all_tasks()
    channels_before = live_memory_channels()
    stop_at = max(3600.0, plan.end) + 60

    ledger = Ledger()
    boxed: list[tether.Session] = []
    timeline: list[tuple[events.Event, int]] = []  # (event, faults applied before it)
    recorder = EventRecorder()
    server_box: list[MemoryServer] = []

    def on_event(event: events.Event) -> None:
        timeline.append((event, len(server_box[0].fault_log)))
        recorder(event)

    async def on_connect(conn: tether.Connection) -> None:
        if not boxed:
            return
        stats = boxed[0].statistics()
        assert stats.send_buffered <= 1
        in_buffer = {ledger.issued - 1} if stats.send_buffered else set()
        pending = [n for n in range(ledger.issued) if n not in ledger.echoed | in_buffer]
        for number in pending:
            await conn.send(str(number))
        ledger.replayed.extend(pending)

    steady_trees: list[Counter[str]] = []

    async def sender(session: tether.Session) -> None:
        supervisor = find_task("Supervisor.run")
        while trio.current_time() < stop_at:
            number, ledger.issued = ledger.issued, ledger.issued + 1
            await session.send(str(number))
            await trio.sleep(SEND_EVERY)
            await trio.testing.wait_all_tasks_blocked()
            if session.state is State.OPEN:
                steady_trees.append(Counter(task_names(supervisor)))

    async def receiver(session: tether.Session) -> None:
        async for message in session:
            number = int(message)
            ledger.echoes.append(number)
            ledger.echoed.add(number)
            ledger.changed.unpark_all()

    subscribed: list[events.Event] = []

    async def subscriber(channel: trio.abc.ReceiveChannel[events.Event]) -> None:
        async for event in channel:
            subscribed.append(event)

    async with memory_server() as server:
        server_box.append(server)
        async with (
            trio.open_nursery() as outer,
            tether.connect(
                URL,
                config=CONFIG,
                opener=server.opener,
                on_connect=on_connect,
                on_event=on_event,
                rng=random.Random(seed),
            ) as session,
        ):
            boxed.append(session)
            subscription = session.events()
            subscribed_from = len(recorder.items)
            outer.start_soon(subscriber, subscription)
            # Bounded in virtual time: under autojump a stuck session would not hang the
            # test, it would spin through virtual time for ever.
            with trio.fail_at(stop_at + 600):
                async with trio.open_nursery() as traffic:
                    traffic.start_soon(receiver, session)
                    traffic.start_soon(server.run_plan, plan)
                    await sender(session)
                    with trio.move_on_after(300) as drain:
                        while len(ledger.echoed) < ledger.issued:
                            await ledger.changed.park()
                    traffic.cancel_scope.cancel()
            # connect() has closed the session; the subscription ends by itself.
        assert subscription.statistics().open_send_channels == 0
        with pytest.raises(trio.EndOfChannel):
            subscription.receive_nowait()
        subscription.close()
        del subscription
    del session, boxed[:]

    check_messages(ledger, timeline)
    check_losses(plan, server, timeline)
    check_backoffs(server, timeline)
    assert subscribed == recorder.items[subscribed_from:]
    assert isinstance(subscribed[-1], events.Closed)

    # Leftovers. The events keep errors alive, and an error's traceback keeps the
    # (closed) connection objects of its frames alive: let them go first.
    timeline.clear()
    recorder.items.clear()
    subscribed.clear()
    assert steady_trees and all(tree == steady_trees[0] for tree in steady_trees)
    assert all_tasks() == tasks_before
    assert live_alarms() == 0
    assert live_memory_channels() == channels_before
    # Every echo was in within the drain's bound (check_messages says which one is not).
    assert not drain.cancelled_caught


Timeline = list[tuple[events.Event, int]]


def check_messages(ledger: Ledger, timeline: Timeline) -> None:
    n = ledger.issued
    collapsed = [m for i, m in enumerate(ledger.echoes) if i == 0 or ledger.echoes[i - 1] != m]
    lost = [e for e, _ in timeline if isinstance(e, events.ConnectionLost)]
    # One message a second for the hour, less the time the sender waits out outages
    # (backoff and buffered sends): the session kept sending through most of it.
    assert n > 2900
    assert sorted(set(range(n)) - ledger.echoed) == []  # lost
    assert collapsed == list(range(n))
    assert len(ledger.echoes) - n <= len(lost)
    assert ledger.replayed, "no fault hit a message in flight: the replay went untested"


def check_losses(plan: FaultPlan, server: MemoryServer, timeline: Timeline) -> None:
    """Every ConnectionLost is the one its fault must cause (see ``expected_loss``)."""
    applied = server.fault_log
    assert [fault for _, fault in applied] == [item.fault for item in plan.faults]
    assert not [e for e, count in timeline if count == 0 and isinstance(e, events.ConnectionLost)]
    checked = Counter[LostReason]()
    for index, (at, fault) in enumerate(applied):
        before = [e for e, count in timeline if count <= index]
        after = [e for e, count in timeline if count == index + 1]
        open_since = None
        for event in before:
            if isinstance(event, events.Connected):
                open_since = event.at
            elif isinstance(event, events.ConnectionLost):
                open_since = None
        expected = expected_loss(fault, at, open_since)
        losses = [e for e in after if isinstance(e, events.ConnectionLost)]
        where = f"fault #{index} {fault!r} at {at} (open since {open_since})"
        if expected is AMBIGUOUS:
            assert len(losses) <= 1, where
            continue
        if expected is None:
            assert losses == [], where
        else:
            assert isinstance(expected, Expected)
            assert len(losses) == 1, where
            (loss,) = losses
            assert (loss.reason, loss.code) == (expected.reason, expected.code), where
            assert loss.at == pytest.approx(expected.at, abs=EPS), where
            checked[loss.reason] += 1
        if isinstance(fault, Restart):
            reopened = [e.at for e in after if isinstance(e, events.Connected)]
            assert all(t >= at + fault.downtime - EPS for t in reopened), where
    # The plan really ended connections for each reason, not just faults into the void.
    reasons = {LostReason.TRANSPORT_ERROR, LostReason.PEER_CLOSED, LostReason.PING_TIMEOUT}
    assert set(checked) == reasons, checked


def check_backoffs(server: MemoryServer, timeline: Timeline) -> None:
    """Every failed attempt was a refusal or a rejection the server made, in order, and
    a 503's Retry-After was the delay. A backoff right after a loss (when the first
    retry is not immediate: a short-lived connection, or close code 1012/1013) carries
    that loss as its error."""
    items = [event for event, _ in timeline]
    backing_off = [e for e in items if isinstance(e, events.BackingOff)]
    refused = [e for e in backing_off if isinstance(e.error, ConnectionRefusedError)]
    rejected = [
        (e.delay, e.error) for e in backing_off if isinstance(e.error, tether.HandshakeRejected)
    ]
    after_loss = [e for e in backing_off if isinstance(e.error, tether.ConnectionLostError)]
    assert len(refused) + len(rejected) + len(after_loss) == len(backing_off)
    for event in after_loss:
        previous = items[items.index(event) - 1]
        assert isinstance(event.error, tether.ConnectionLostError)
        assert isinstance(previous, events.ConnectionLost), (previous, event)
        assert (previous.reason, previous.code, previous.at) == (
            event.error.reason,
            event.error.code,
            event.at,
        )
    assert len(refused) == server.refused_attempts
    assert [error.status_code for _, error in rejected] == [
        r.rejected_status for r in server.connections if r.rejected_status is not None
    ]
    for event in backing_off:
        if not isinstance(event.error, tether.HandshakeRejected):
            continue
        retry_after = event.error.headers.get("retry-after")
        if retry_after is not None:
            # Retry-After lengthens the jittered backoff delay, never shortens it.
            assert event.retry_after == float(retry_after)
            assert event.delay >= float(retry_after)
