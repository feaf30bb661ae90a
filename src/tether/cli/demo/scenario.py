"""The fault scenario of ``tether demo``: what each fault does to the proxy or the
server (``fault_*``, acting on a :class:`Lab`), the named :data:`SCHEDULES`, how a
schedule is spread over the run (:func:`plan`) and played (:func:`run_schedule`), one
fault at a time, each after the session recovered from the last.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence

import attrs
import trio

import tether
from tether.testing import ChaosProxy

from .echo_server import REJECT_STATUS, RETRY_AFTER_SECONDS, EchoServer
from .report import Reporter
from .tracker import Tracker

__all__ = [
    "OUTAGE_SECONDS",
    "RECOVERY_TIMEOUT",
    "SCHEDULES",
    "SETTLE_SECONDS",
    "FaultFn",
    "Lab",
    "Step",
    "plan",
    "run_schedule",
]

#: Seconds a fault may take before the session must be open again (else a warning).
RECOVERY_TIMEOUT = 15.0
#: Seconds the proxy stays down in the "outage" fault.
OUTAGE_SECONDS = 1.5
#: Seconds of traffic, at least, between a reconnect and the next fault, and after the
#: last fault before the demo stops sending.
SETTLE_SECONDS = 0.5


@attrs.define
class Lab:
    """What a fault can act on and report to."""

    proxy: ChaosProxy
    server: EchoServer
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


async def fault_going_away(lab: Lab) -> None:
    """The server closes with 1001: ``ConnectionLost(PEER_CLOSED, code=1001)``."""
    count = lab.server.close_all(1001, "going away")
    lab.fault(f"going-away: server closes {count} connection(s) with 1001 'going away'")


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
    lab.server.reject_next(1)
    count = lab.server.close_all(1001, "restarting")
    lab.fault(
        f"restart-503: server closes {count} connection(s) with 1001 and rejects the next "
        f"handshake with {REJECT_STATUS}, Retry-After: {RETRY_AFTER_SECONDS}"
    )


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


#: Named fault schedules (``--faults``): the faults each runs, each once. ``default``
#: causes five reconnects of three causes (transport error, peer close, ping timeout),
#: a 503 with ``Retry-After`` and a burst of refused connects.
SCHEDULES: Mapping[str, Mapping[str, FaultFn]] = {
    "default": {
        "drop": fault_drop,
        "going-away": fault_going_away,
        "stall": fault_stall,
        "restart-503": fault_restart_503,
        "outage": fault_outage,
    },
    "none": {},
}


@attrs.frozen
class Step:
    """One fault of a schedule, due ``at`` seconds after the start."""

    at: float
    name: str
    inject: FaultFn


def plan(schedule: Mapping[str, FaultFn], duration: float, seed: int) -> list[Step]:
    """Spread the faults of ``schedule`` over ``duration`` seconds, in a seeded order,
    evenly spaced with a seeded jitter of up to a fifth of the spacing."""
    rng = random.Random(seed)
    names = list(schedule)
    rng.shuffle(names)
    spacing = duration / (len(names) + 1)
    steps = []
    for index, name in enumerate(names, start=1):
        jitter = rng.uniform(-0.2, 0.2) * spacing
        steps.append(Step(at=index * spacing + jitter, name=name, inject=schedule[name]))
    return steps


async def run_schedule(lab: Lab, steps: Sequence[Step], origin: float) -> None:
    """Inject each fault at its time, then wait until the session has reconnected. A
    fault due while the last one is still being recovered from waits for the reconnect
    and ``SETTLE_SECONDS`` of traffic."""
    not_before = origin
    for step in steps:
        await trio.sleep_until(max(origin + step.at, not_before))
        generation = lab.session.generation
        await step.inject(lab)
        with trio.move_on_after(RECOVERY_TIMEOUT) as scope:
            await lab.tracker.wait_open_after(generation)
        if scope.cancelled_caught:
            lab.note(f"WARNING: not reconnected {RECOVERY_TIMEOUT} s after {step.name}")
        not_before = trio.current_time() + SETTLE_SECONDS
