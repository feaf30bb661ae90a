"""Herd simulation: many sessions, one server restart, on Trio's virtual clock.

N sessions are connected to one in-memory server (``tether.testing``). The server goes
down (every connection dropped, every attempt refused) for ``--downtime`` virtual
seconds and comes back. We count connect attempts per virtual second, split by whether
the server was down (refused: cheap for it) or up (a TCP accept plus a handshake: the
storm a restarting server has to survive), and the time from the server coming back
until every session is open again.

Backoff variants compared in one run: the default bounded ("equal") jitter; no jitter;
full jitter; full jitter without the immediate first retry. Full and equal jitter are
from the AWS Architecture Blog, *Exponential Backoff And Jitter* (Marc Brooker, 2015).

    python benchmarks/herd.py --sessions 10000 --downtime 10
"""

from __future__ import annotations

import argparse
import collections
import math
import random
import sys
import time
from collections.abc import Sequence

import attrs
import trio
import trio.testing

import tether
from tether.testing import memory_server

URL = "ws://herd.test/"


@attrs.frozen
class HerdResult:
    variant: str
    sessions: int
    peak_attempts_per_s: int
    peak_attempts_per_s_while_up: int
    attempts_total: int
    all_back_after_s: float
    real_seconds: float


async def _simulate(
    variant: str, backoff: tether.Backoff, sessions: int, downtime: float, seed: int
) -> HerdResult:
    attempts: collections.Counter[int] = collections.Counter()
    attempts_up: collections.Counter[int] = collections.Counter()
    config = tether.Config(ping_interval=None, backoff=backoff, connect_timeout=30)
    real_start = time.perf_counter()
    rng = random.Random(seed)
    async with trio.open_nursery() as nursery, memory_server() as server:
        down = False

        async def counting_opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
            second = math.floor(trio.current_time())
            attempts[second] += 1
            if not down:
                attempts_up[second] += 1
            return await server.opener(host, port, tls)

        finished = trio.Event()

        async def one_session(index: int) -> None:
            async with tether.connect(
                URL, config=config, opener=counting_opener, rng=random.Random(rng.random())
            ):
                await finished.wait()

        for index in range(sessions):
            nursery.start_soon(one_session, index)
        await server.wait_connections(sessions)
        await trio.sleep(backoff.stable_after + 1)  # every connection is stable
        attempts.clear()
        attempts_up.clear()

        down = True
        server.go_down()
        await trio.sleep(downtime)
        down = False
        server.come_back()
        back_at = trio.current_time()
        await server.wait_connections(2 * sessions)  # refused attempts leave no record
        all_back_after = trio.current_time() - back_at
        finished.set()
    return HerdResult(
        variant=variant,
        sessions=sessions,
        peak_attempts_per_s=max(attempts.values()),
        peak_attempts_per_s_while_up=max(attempts_up.values(), default=0),
        attempts_total=sum(attempts.values()),
        all_back_after_s=round(all_back_after, 2),
        real_seconds=round(time.perf_counter() - real_start, 1),
    )


VARIANTS = {
    "bounded jitter (default)": tether.Backoff(),
    "no jitter": tether.Backoff(jitter=False),
    "full jitter": tether.Backoff(bounded_jitter=False),
    "full jitter, no immediate first retry": tether.Backoff(
        bounded_jitter=False, first_immediate=False
    ),
}


def run(sessions: int, downtime: float, seed: int) -> list[HerdResult]:
    results = []
    for name, backoff in VARIANTS.items():
        clock = trio.testing.MockClock(autojump_threshold=0)
        result = trio.run(_simulate, name, backoff, sessions, downtime, seed, clock=clock)
        results.append(result)
        print(f"  {name}: done in {result.real_seconds} s real", file=sys.stderr)
    return results


def table(results: Sequence[HerdResult], downtime: float) -> str:
    baseline = next(r for r in results if r.variant == "no jitter")
    lines = [
        f"Herd: {results[0].sessions} sessions, server down {downtime:g} s (virtual clock)",
        "",
        "| backoff | peak attempts/s (server up) | vs no jitter | peak attempts/s (any) "
        "| attempts | all back after (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = baseline.peak_attempts_per_s_while_up / max(1, r.peak_attempts_per_s_while_up)
        lines.append(
            f"| {r.variant} | {r.peak_attempts_per_s_while_up} | {ratio:.1f}x lower "
            f"| {r.peak_attempts_per_s} | {r.attempts_total} | {r.all_back_after_s} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--downtime", type=float, default=10.0, help="seconds (virtual)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    results = run(args.sessions, args.downtime, args.seed)
    print(table(results, args.downtime))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
