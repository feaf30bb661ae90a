"""The fault scenario of ``tether demo``: what each fault does to the proxy or the
server (``fault_*``, acting on a :class:`Lab`) and how long the session may take, at
worst, to recover from it (:class:`Fault`), the named :data:`SCHEDULES`, how a schedule
is spread over the run (:func:`plan`) and played (:func:`run_schedule`), one fault at a
time, each after the session recovered from the last.

The header's ``schedule:`` is the plan, and the faults fire at its times (within
:data:`FIRE_TOLERANCE`): :func:`plan` leaves after each fault its worst-case recovery
(:meth:`Fault.recovery`: detection, every backoff delay at ``Backoff.maximum``,
``Retry-After``; plus :data:`RECOVERY_MARGIN`) and :data:`SETTLE_SECONDS` of traffic,
so the next fault always finds the session open. A short ``--duration`` is stretched.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence

import attrs
import trio

import tether
from tether.testing import ChaosProxy, LoopbackServer

from .report import Reporter
from .server import REJECT_STATUS, RETRY_AFTER_SECONDS
from .tracker import Tracker

__all__ = [
    "CLOSE_WAIT",
    "FAULTS",
    "FIRE_TOLERANCE",
    "OUTAGE_SECONDS",
    "RECOVERY_MARGIN",
    "RECOVERY_TIMEOUT",
    "SCHEDULES",
    "SETTLE_SECONDS",
    "Fault",
    "FaultFn",
    "Lab",
    "Step",
    "end_of",
    "plan",
    "run_schedule",
    "schedule_text",
]

#: Seconds a fault may take before the session must be open again (else a warning).
RECOVERY_TIMEOUT = 15.0
#: Seconds the proxy stays down in the "outage" fault.
OUTAGE_SECONDS = 1.5
#: Seconds of traffic, at least, between a reconnect and the next fault, and after the
#: last fault before the demo stops sending.
SETTLE_SECONDS = 0.5
#: Seconds a recovery may take beyond its worst case of timers and delays (loopback
#: connects and handshakes, the resume and the resends, a busy machine).
RECOVERY_MARGIN = 0.3
#: Seconds after its planned time within which a fault fires (the header says so);
#: later, a warning note says how late.
FIRE_TOLERANCE = 0.2
#: Seconds the server's Close waits for the client's answer (then the link is closed).
CLOSE_WAIT = 2.0


@attrs.define
class Lab:
    """What a fault can act on and report to: the proxy (the network's faults) and the
    server (its own: a Close with a code, handshakes rejected)."""

    proxy: ChaosProxy
    server: LoopbackServer
    session: tether.Session
    tracker: Tracker
    reporter: Reporter

    def fault(self, text: str) -> None:
        """Report a fault line, timed now."""
        self.reporter.fault(self.tracker.since(trio.current_time()), text)

    def note(self, text: str) -> None:
        """Report a note line, timed now."""
        self.reporter.note(self.tracker.since(trio.current_time()), text)


#: A fault: does something to the proxy or the server, reports it, and returns (it may
#: wait, e.g. for the session to notice).
FaultFn = Callable[[Lab], Awaitable[None]]


async def fault_drop(lab: Lab) -> None:
    """Abrupt TCP drop: ``ConnectionLost(TRANSPORT_ERROR)``."""
    count = lab.proxy.drop()
    lab.fault(f"drop: reset {count} proxied TCP connection(s) (RST both ways)")


async def _server_closes(lab: Lab, code: int, reason: str) -> None:
    """The server closes every open connection with ``code``, waiting up to
    :data:`CLOSE_WAIT` seconds for the client's answer."""
    with trio.move_on_after(CLOSE_WAIT):
        await lab.server.close(code, reason)


async def fault_going_away(lab: Lab) -> None:
    """The server closes with 1001: ``ConnectionLost(PEER_CLOSED, code=1001)``."""
    count = len(lab.server.open_connections)
    lab.fault(f"going-away: server closes {count} connection(s) with 1001 'going away'")
    await _server_closes(lab, 1001, "going away")


async def fault_stall(lab: Lab) -> None:
    """A half-open link only pings can detect: ``ConnectionLost(PING_TIMEOUT)`` after at
    most ``ping_interval + ping_timeout`` seconds; then the link is resumed."""
    generation = lab.session.generation
    config = lab.session.config
    lab.proxy.stall()
    lab.fault("stall: proxy stops forwarding both ways; TCP stays up (half-open link)")
    started = trio.current_time()
    bound = sum(t or 0.0 for t in (config.ping_interval, config.ping_timeout))
    with trio.move_on_after(bound + (config.close_timeout or 0.0) + 2.0):
        await lab.tracker.wait_lost(generation)
    lab.proxy.resume()
    waited = trio.current_time() - started
    lab.fault(f"stall: resumed forwarding after {waited:.3f} s (detection bound {bound:.1f} s)")


async def fault_restart_503(lab: Lab) -> None:
    """The server restarts: closes with 1001, then rejects the next handshake with 503
    and ``Retry-After: 1``: a ``BackingOff`` event with ``delay=1``."""
    lab.server.reject(1, REJECT_STATUS, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    count = len(lab.server.open_connections)
    lab.fault(
        f"restart-503: server closes {count} connection(s) with 1001 and rejects the next "
        f"handshake with {REJECT_STATUS}, Retry-After: {RETRY_AFTER_SECONDS}"
    )
    await _server_closes(lab, 1001, "restarting")


async def fault_outage(lab: Lab) -> None:
    """Proxy down for ``OUTAGE_SECONDS``: connections reset, connects refused
    (``BackingOff`` with ``ConnectionRefusedError``), then back on the same port."""
    lab.proxy.go_down()
    count = lab.proxy.drop()
    lab.fault(
        f"outage: proxy stops listening (connects refused) and resets {count} "
        f"connection(s), for {OUTAGE_SECONDS} s"
    )
    await trio.sleep(OUTAGE_SECONDS)
    lab.proxy.come_back()
    lab.fault(f"outage: proxy listening again on port {lab.proxy.port}")


def _longest_delay(config: tether.Config, retry_after: float | None = None) -> float:
    """The longest delay before one connect attempt (seconds): the backoff's cap (the
    upper bound of every jittered draw), or the server's ``Retry-After`` as the session
    honours it (at most ``Backoff.retry_after_max``) when that is longer."""
    backoff = config.backoff
    asked = 0.0 if retry_after is None else min(retry_after, backoff.retry_after_max)
    return max(backoff.maximum, asked)


def _lost_recovery(config: tether.Config) -> float:
    # The reset or Close is seen at once; one backoff delay, then an attempt connects.
    return _longest_delay(config)


def _stall_recovery(config: tether.Config) -> float:
    # The next ping within ping_interval, no pong within ping_timeout; then one delay.
    pings = (config.ping_interval or 0.0) + (config.ping_timeout or 0.0)
    return pings + _longest_delay(config)


def _restart_recovery(config: tether.Config) -> float:
    # One delay after the 1001, the 503 rejection, one delay of at least Retry-After.
    return _longest_delay(config) + _longest_delay(config, RETRY_AFTER_SECONDS)


def _outage_recovery(config: tether.Config) -> float:
    # Refused until the proxy is back; then the delay already begun ends, at the latest.
    return OUTAGE_SECONDS + _longest_delay(config)


@attrs.frozen
class Fault:
    """A fault of a schedule: ``inject`` does it; ``worst_recovery(config)`` is the
    longest the session (with ``config``) may take, in timers and backoff delays, from
    the moment it is injected until a new generation is open."""

    inject: FaultFn
    worst_recovery: Callable[[tether.Config], float]

    def recovery(self, config: tether.Config) -> float:
        """Seconds to leave after this fault before the next: its worst-case recovery
        plus :data:`RECOVERY_MARGIN`."""
        return self.worst_recovery(config) + RECOVERY_MARGIN


#: Every fault of the demo, by name.
FAULTS: Mapping[str, Fault] = {
    "drop": Fault(fault_drop, _lost_recovery),
    "going-away": Fault(fault_going_away, _lost_recovery),
    "stall": Fault(fault_stall, _stall_recovery),
    "restart-503": Fault(fault_restart_503, _restart_recovery),
    "outage": Fault(fault_outage, _outage_recovery),
}

#: Named fault schedules (``--faults``): the faults each runs, each once. ``default``
#: runs them all: five reconnects of three causes (transport error, peer close, ping
#: timeout), a 503 with ``Retry-After`` and a burst of refused connects; ``none`` runs
#: none; each fault's own name runs it alone (``--faults stall``).
SCHEDULES: Mapping[str, Mapping[str, Fault]] = {
    "default": FAULTS,
    "none": {},
    **{name: {name: fault} for name, fault in FAULTS.items()},
}


@attrs.frozen
class Step:
    """One fault of a schedule, due ``at`` seconds after the start; ``recovery``: the
    seconds :func:`plan` left for the session to recover from it (:meth:`Fault.recovery`)."""

    at: float
    name: str
    inject: FaultFn
    recovery: float = 0.0


def plan(
    schedule: Mapping[str, Fault], duration: float, seed: int, *, config: tether.Config
) -> list[Step]:
    """Spread the faults of ``schedule`` over ``duration`` seconds, in a seeded order,
    evenly spaced with a seeded jitter of up to a fifth of the spacing, but each at
    least the recovery of the one before (:meth:`Fault.recovery` with ``config``) plus
    :data:`SETTLE_SECONDS` after it: the times are when the faults will fire, however
    short ``duration`` is."""
    rng = random.Random(seed)
    names = list(schedule)
    rng.shuffle(names)
    spacing = duration / (len(names) + 1)
    steps: list[Step] = []
    for index, name in enumerate(names, start=1):
        jitter = rng.uniform(-0.2, 0.2) * spacing
        at = index * spacing + jitter
        if steps:
            at = max(at, steps[-1].at + steps[-1].recovery + SETTLE_SECONDS)
        fault = schedule[name]
        steps.append(Step(at=at, name=name, inject=fault.inject, recovery=fault.recovery(config)))
    return steps


def end_of(steps: Sequence[Step], duration: float) -> float:
    """Seconds after the start when the planned run stops sending, at the latest: the
    end of ``duration``, or the last fault's recovery and :data:`SETTLE_SECONDS`."""
    if not steps:
        return duration
    return max(duration, steps[-1].at + steps[-1].recovery + SETTLE_SECONDS)


def schedule_text(steps: Sequence[Step], duration: float) -> str:
    """The header's ``schedule:`` line: each fault at its time, and how exact that is."""
    if not steps:
        return "schedule: no faults"
    times = ", ".join(f"{step.name}@{step.at:.2f}s" for step in steps)
    text = f"schedule: {times} (each fires within {FIRE_TOLERANCE:g} s"
    last = end_of(steps, duration)
    if last > duration:
        text += f"; the faults' worst-case recoveries stretch the run to {last:.1f} s at most"
    return text + ")"


async def run_schedule(lab: Lab, steps: Sequence[Step], origin: float) -> None:
    """Inject each fault at its time, then wait until the session has reconnected. A
    fault due while the last one is still being recovered from (its recovery took
    longer than :func:`plan` allowed) waits for the reconnect and ``SETTLE_SECONDS`` of
    traffic, and a warning note says it fired late."""
    not_before = origin
    previous: Step | None = None
    for step in steps:
        await trio.sleep_until(max(origin + step.at, not_before))
        late = trio.current_time() - (origin + step.at)
        if late > FIRE_TOLERANCE and previous is not None:
            lab.note(
                f"WARNING: {step.name} fires {late:.2f} s late: recovering from "
                f"{previous.name} took longer than the {previous.recovery:.1f} s planned"
            )
        elif late > FIRE_TOLERANCE:
            lab.note(f"WARNING: {step.name} fires {late:.2f} s late")
        generation = lab.session.generation
        await step.inject(lab)
        with trio.move_on_after(RECOVERY_TIMEOUT) as scope:
            await lab.tracker.wait_open_after(generation)
        if scope.cancelled_caught:
            lab.note(f"WARNING: not reconnected {RECOVERY_TIMEOUT} s after {step.name}")
        not_before = trio.current_time() + SETTLE_SECONDS
        previous = step
