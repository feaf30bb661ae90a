"""Alarms: wake a :class:`trio.lowlevel.ParkingLot` at a deadline, without a cancel
scope per waiter.

An open generation's task waits for a close request, a rotation step or a pong, and
must also wake when its pinger (or ``max_connection_age``) is due. A
``trio.move_on_at`` around that wait is a cancel scope alive for the whole of an idle
connection (about 1.1 KiB with its status and sets). Here one queue per Trio run, a
heap of ``(deadline, sequence, lot)`` entries served by one system task, does the
same for about 100 bytes per alarm: it sleeps until the earliest deadline and then
unparks every lot that is due (``unpark_all``). Waiters re-check their condition when
woken, so a wake-up that finds nothing due costs one look.

Cancelling an alarm empties its entry; the entry leaves the heap when its deadline
comes (the heap holds no reference to the lot meanwhile), so the heap holds at most the
alarms set within one horizon. Deadlines are ``trio.current_time()`` seconds: under
``trio.testing.MockClock`` (autojump included) an alarm fires at its exact virtual time.
"""

from __future__ import annotations

import heapq
import itertools
import math

import trio

__all__ = ["ALARM_TASK_NAME", "Alarm", "live_alarms", "set_alarm"]

#: The name of the system task that rings a Trio run's alarms (one per run).
ALARM_TASK_NAME = "tether alarms"


class Alarm:
    """One alarm: at :attr:`deadline`, ``lot.unpark_all()``, unless cancelled first."""

    __slots__ = ("deadline", "lot", "sequence")

    def __init__(self, deadline: float, sequence: int, lot: trio.lowlevel.ParkingLot) -> None:
        self.deadline = deadline
        self.sequence = sequence
        self.lot: trio.lowlevel.ParkingLot | None = lot

    def __lt__(self, other: Alarm) -> bool:
        return (self.deadline, self.sequence) < (other.deadline, other.sequence)

    def cancel(self) -> None:
        """Do not wake the lot (idempotent)."""
        self.lot = None


class _AlarmQueue:
    """The alarms of one Trio run and the system task that rings them."""

    __slots__ = ("_heap", "_sequence", "_sleep")

    def __init__(self) -> None:
        self._heap: list[Alarm] = []
        self._sequence = itertools.count()
        #: The ringing task's sleep, whose deadline is the earliest alarm's.
        self._sleep: trio.CancelScope | None = None

    def add(self, deadline: float, lot: trio.lowlevel.ParkingLot) -> Alarm:
        alarm = Alarm(deadline, next(self._sequence), lot)
        heapq.heappush(self._heap, alarm)
        sleep = self._sleep
        if sleep is not None and deadline < sleep.deadline:
            sleep.deadline = deadline
        return alarm

    def live(self) -> int:
        return sum(alarm.lot is not None for alarm in self._heap)

    async def ring(self) -> None:
        """The system task: forever, sleep until the earliest alarm, then wake every
        lot that is due. Ends when the run ends (system tasks are cancelled then)."""
        heap = self._heap
        while True:
            with trio.CancelScope(deadline=heap[0].deadline if heap else math.inf) as sleep:
                self._sleep = sleep
                await trio.sleep_forever()
            now = trio.current_time()
            while heap and heap[0].deadline <= now:
                lot = heapq.heappop(heap).lot
                if lot is not None:
                    lot.unpark_all()


_QUEUE: trio.lowlevel.RunVar[_AlarmQueue] = trio.lowlevel.RunVar("tether_alarm_queue")


def set_alarm(deadline: float, lot: trio.lowlevel.ParkingLot) -> Alarm:
    """Wake every task parked in ``lot`` at ``deadline`` (``trio.current_time()``
    seconds; a past one wakes them at the next pass of the ringing task). The first
    alarm of a Trio run starts that run's ringing task (a system task)."""
    try:
        queue = _QUEUE.get()
    except LookupError:
        queue = _AlarmQueue()
        _QUEUE.set(queue)
        trio.lowlevel.spawn_system_task(queue.ring, name=ALARM_TASK_NAME)
    return queue.add(deadline, lot)


def live_alarms() -> int:
    """How many alarms of this Trio run are set and not cancelled (tests: a closed
    session leaves none)."""
    try:
        queue = _QUEUE.get()
    except LookupError:
        return 0
    return queue.live()
