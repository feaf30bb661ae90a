"""Issue 13's acceptance, second half: the generic-dialect soak on real loopback through
the chaos proxy for a minute of real time.

:class:`tether.testing.JsonDialectServer` serves on 127.0.0.1 (``LoopbackServer``),
a :class:`tether.testing.ChaosProxy` sits between it and a ``tether.delivery`` client,
and a seeded plan applies a fault every 5-8 s: a drop (RST both ways), a stall then
resume (half-open link, found by the WebSocket ping), a refusal (``go_down`` with the
open links dropped, then ``come_back``) and a slow link (0.75 s one-way latency, the
link dropped in the middle of it so that the reconnect runs over the slow link). Both
sides send a numbered message every 20 ms throughout; afterwards both applications
must have received every message of the other side exactly once and in order, and
every fault must have cost at least one reconnect. ``pytest -s`` shows the counts.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio

import tether
from tether import LostReason
from tether.delivery import connect as delivery_connect
from tether.delivery import json_dialect
from tether.testing import ChaosProxy, JsonDialectServer, LoopbackServer

pytestmark = pytest.mark.loopback

SEED = 13
#: Real seconds of traffic and faults.
DURATION = 60.0
#: Seconds between two messages, each way.
EVERY = 0.02
MESSAGES = int(DURATION / EVERY)
KINDS = ("drop", "stall", "refuse", "slow")
#: How long a stall, a refusal and a slow link last (seconds).
STALL_FOR = 3.0
REFUSE_FOR = 1.5
SLOW_FOR = 3.0
#: One-way latency of the slow link: its round trip (1.5 s) exceeds the ping timeout,
#: but the messages arriving meanwhile prove the peer alive (tether's pinger), so a slow
#: link alone is no loss: it is dropped ``SLOW_DROP_AFTER`` s in, and the reconnect
#: (handshake, resume, replay and resends) runs over the slow link.
SLOW_DELAY = 0.75
SLOW_DROP_AFTER = 1.0
#: Seconds a fault's reconnect may take once the fault has ended.
RECOVERY = 10.0
#: Seconds both sides get to drain after the minute.
DRAIN = 30.0
CONFIG = tether.Config(
    ping_interval=1,
    ping_timeout=1,
    backoff=tether.Backoff(initial=0.05, maximum=0.5),
)


def fault_plan(seed: int) -> list[tuple[float, str]]:
    """``(seconds after the start, kind)``: every 5-8 s from 2 s to ``DURATION - 8``;
    the kinds in a shuffled order per round of four, so each one comes at least once."""
    rng = random.Random(seed)
    plan: list[tuple[float, str]] = []
    at = 2.0
    kinds: list[str] = []
    while at < DURATION - 8:
        if not kinds:
            kinds = list(KINDS)
            rng.shuffle(kinds)
        plan.append((at, kinds.pop()))
        at += rng.uniform(5, 8)
    return plan


@pytest.mark.time_limit(DURATION + DRAIN + 60)
async def test_a_minute_of_loopback_chaos_loses_and_duplicates_nothing(
    nursery: trio.Nursery,
) -> None:
    app = JsonDialectServer()
    server = LoopbackServer(app.handler)
    port = await nursery.start(server.serve)
    plan = fault_plan(SEED)
    assert {kind for _, kind in plan} == set(KINDS)
    got: list[dict[str, Any]] = []
    #: kind -> reconnects that happened during that fault and its recovery
    reconnects_by_kind: dict[str, int] = dict.fromkeys(KINDS, 0)
    refused_attempts = 0
    #: the generation of the latest Connected event, and an Event set at each one
    opened = 0
    reopened = trio.Event()

    def on_event(event: tether.events.Event) -> None:
        nonlocal refused_attempts, opened, reopened
        if isinstance(event, tether.events.BackingOff) and proxy.down:
            refused_attempts += 1
        elif isinstance(event, tether.events.Connected):
            opened = event.generation
            reopened.set()
            reopened = trio.Event()

    async with (
        ChaosProxy(("127.0.0.1", port)) as proxy,
        delivery_connect(
            f"ws://127.0.0.1:{proxy.port}/",
            dialect=json_dialect(),
            codec=tether.JsonCodec(),
            config=CONFIG,
            proxy=None,
            max_unacknowledged=100_000,
            on_event=on_event,
        ) as delivery,
    ):
        session = delivery.session
        start = trio.current_time()

        async def client_sends() -> None:
            for n in range(MESSAGES):
                await delivery.send({"id": n, "from": "client"})
                await trio.sleep_until(start + (n + 1) * EVERY)

        async def server_sends() -> None:
            for n in range(MESSAGES):
                await app.publish({"n": n, "from": "server"})
                await trio.sleep_until(start + (n + 1) * EVERY)

        async def consume() -> None:
            while len(got) < MESSAGES:
                got.append(await delivery.receive())

        async def faults() -> None:
            for at, kind in plan:
                await trio.sleep_until(max(start + at, trio.current_time()))
                before = opened
                if kind == "drop":
                    proxy.drop()
                elif kind == "stall":
                    proxy.stall()
                    await trio.sleep(STALL_FOR)
                    proxy.resume()
                elif kind == "refuse":
                    proxy.go_down()
                    proxy.drop()
                    await trio.sleep(REFUSE_FOR)
                    proxy.come_back()
                else:
                    proxy.slow(SLOW_DELAY)
                    await trio.sleep(SLOW_DROP_AFTER)
                    proxy.drop()
                    await trio.sleep(SLOW_FOR - SLOW_DROP_AFTER)
                    proxy.slow(0)
                with trio.fail_after(RECOVERY):
                    while opened == before:
                        await reopened.wait()
                reconnects_by_kind[kind] += opened - before

        async with trio.open_nursery() as traffic:
            traffic.start_soon(faults)
            traffic.start_soon(client_sends)
            traffic.start_soon(server_sends)
            with trio.fail_after(DURATION + DRAIN):
                await consume()
        # Every fault has ended (the faults task finished), both senders are done.
        assert not proxy.stalled and not proxy.down and proxy.statistics().delay == 0
        with trio.fail_after(DRAIN):
            await app.wait_received(MESSAGES)
            await delivery.wait_acknowledged()
        stats = delivery.statistics()
        session_stats = session.statistics()
        elapsed = trio.current_time() - start

    assert [m["id"] for m in app.received] == list(range(MESSAGES))
    assert [m["n"] for m in got] == list(range(MESSAGES))
    assert [m["seq"] for m in got] == list(range(1, MESSAGES + 1))
    assert stats.gaps == 0
    assert [r.handler_error for r in server.connections if r.handler_error] == []
    for kind in KINDS:
        assert reconnects_by_kind[kind] >= 1, kind
    assert refused_attempts >= 1
    assert session_stats.lost.get(LostReason.PING_TIMEOUT, 0) >= 1  # the stall, the slow link
    assert session_stats.lost.get(LostReason.TRANSPORT_ERROR, 0) >= 1  # the drops
    lost = {reason.value: n for reason, n in session_stats.lost.items() if n}
    print(
        f"\nloopback soak, seed {SEED}: {elapsed:.1f} s, {len(plan)} faults "
        f"({', '.join(kind for _, kind in plan)}); {MESSAGES} messages each way; "
        f"reconnects {session_stats.reconnects} (by fault {reconnects_by_kind}, "
        f"refused attempts {refused_attempts}), lost {lost}; client resent {stats.resent}, "
        f"server dropped {app.duplicates} duplicates, client dropped "
        f"{stats.duplicates_dropped}; resumes {len(app.resumes)}"
    )
