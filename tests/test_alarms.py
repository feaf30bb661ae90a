"""Alarms (``tether.session._alarms``) and a generation's writing tasks
(``Senders``): exact virtual times, cancellation, and what is left behind."""

from __future__ import annotations

import math

import trio
import trio.testing

from tether import LostReason
from tether.exceptions import ConnectionLostError
from tether.session._alarms import ALARM_TASK_NAME, live_alarms, set_alarm
from tether.session._generation import Generation, Senders


async def _woken_at(lot: trio.lowlevel.ParkingLot, log: list[float]) -> None:
    await lot.park()
    log.append(trio.current_time())


async def _park(
    nursery: trio.Nursery, lots: list[trio.lowlevel.ParkingLot], log: list[float]
) -> None:
    """One task parked in each of ``lots`` (once they all are), logging when woken."""
    for lot in lots:
        nursery.start_soon(_woken_at, lot, log)
    await trio.testing.wait_all_tasks_blocked()


async def test_an_alarm_wakes_its_lot_at_its_exact_deadline(
    autojump_clock: trio.abc.Clock,
) -> None:
    lot = trio.lowlevel.ParkingLot()
    woken: list[float] = []
    async with trio.open_nursery() as nursery:
        await _park(nursery, [lot, lot], woken)
        set_alarm(trio.current_time() + 7.5, lot)
    assert woken == [7.5, 7.5]
    assert live_alarms() == 0


async def test_an_earlier_alarm_set_while_the_queue_sleeps_rings_first(
    autojump_clock: trio.abc.Clock,
) -> None:
    late, early = trio.lowlevel.ParkingLot(), trio.lowlevel.ParkingLot()
    woken: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_woken_at, late, woken)
        set_alarm(100.0, late)
        await trio.sleep(10)  # the ringing task now sleeps until 100
        await _park(nursery, [early], woken)
        set_alarm(12.0, early)
    assert woken == [12.0, 100.0]


async def test_a_cancelled_alarm_never_rings_and_holds_nothing(
    autojump_clock: trio.abc.Clock,
) -> None:
    lot = trio.lowlevel.ParkingLot()
    woken: list[float] = []
    async with trio.open_nursery() as nursery:
        await _park(nursery, [lot], woken)
        alarm = set_alarm(5.0, lot)
        assert live_alarms() == 1
        alarm.cancel()
        alarm.cancel()  # idempotent
        assert live_alarms() == 0
        assert alarm.lot is None
        await trio.sleep(20)
        assert woken == []
        assert lot.statistics().tasks_waiting == 1
        lot.unpark_all()
    assert woken == [20.0]


async def test_one_ringing_task_serves_every_alarm_of_a_run(
    autojump_clock: trio.abc.Clock,
) -> None:
    lots = [trio.lowlevel.ParkingLot() for _ in range(50)]
    woken: list[float] = []
    async with trio.open_nursery() as nursery:
        await _park(nursery, lots, woken)
        for index, lot in enumerate(lots):
            set_alarm(float(50 - index), lot)  # set in descending order
        system = trio.lowlevel.current_root_task().child_nurseries
        names = [task.name for nursery_ in system for task in nursery_.child_tasks]
        assert names.count(ALARM_TASK_NAME) == 1
    assert woken == [float(t) for t in range(1, 51)]


async def test_a_past_deadline_rings_at_once(autojump_clock: trio.abc.Clock) -> None:
    await trio.sleep(3)
    lot = trio.lowlevel.ParkingLot()
    woken: list[float] = []
    async with trio.open_nursery() as nursery:
        await _park(nursery, [lot], woken)
        set_alarm(1.0, lot)
    assert woken == [3.0]


# ---------------------------------------------------------------------- Senders


async def _sleeper(log: list[str], name: str, seconds: float) -> None:
    log.append(f"{name} started")
    try:
        await trio.sleep(seconds)
        log.append(f"{name} finished")
    except trio.Cancelled:
        log.append(f"{name} cancelled at {trio.current_time():g}")
        raise


async def test_senders_stop_cancels_them_and_waits_until_they_ended(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        senders = Senders(nursery)
        senders.start_soon(_sleeper, log, "writer", math.inf)
        senders.start_soon(_sleeper, log, "watchdog", 1.0)
        await trio.sleep(2)
        await senders.stop()
        log.append(f"stopped at {trio.current_time():g}")
        senders.start_soon(_sleeper, log, "late", 1.0)  # after stop(): never runs
    # Trio starts tasks in no set order.
    assert sorted(log[:2]) == ["watchdog started", "writer started"]
    assert log[2:] == ["watchdog finished", "writer cancelled at 2", "stopped at 2"]


async def test_a_sender_started_but_not_yet_running_does_not_run_after_cancel(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        senders = Senders(nursery)
        senders.start_soon(_sleeper, log, "writer", 1.0)
        senders.cancel()  # before the writer's task ran at all
        await senders.stop()
    assert log == []


async def test_ending_a_generation_cancels_its_senders_but_not_the_nursery(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    generation = Generation(1, None, 1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_sleeper, log, "reader", 5.0)
        generation.senders = senders = Senders(nursery)
        senders.start_soon(_sleeper, log, "writer", 10.0)
        await trio.sleep(1)
        generation.end(ConnectionLostError(LostReason.TRANSPORT_ERROR, None, "lost"))
        await senders.stop()
    assert sorted(log[:2]) == ["reader started", "writer started"]
    assert log[2:] == ["writer cancelled at 1", "reader finished"]
    assert generation.cancelled
