"""Herd model: the retry policy alone, no sessions, no event loop (issue 14 item 5).

``benchmarks/herd.py`` runs real tether sessions on the virtual clock and is too slow for
100,000 sessions. This model asks ``tether.policy.next_delay`` for each session's
schedule directly: every session loses its connection at t=0, the server refuses every
attempt (taking no time) until ``--downtime`` and accepts from then on. It reports the
peak of accepted attempts per second (the storm the server must take) and when the last
session is back. It assumes what herd.py measures on the memory server: a refused
attempt takes no virtual time, and an accepted one succeeds.

    python benchmarks/herd_model.py --sessions 10000 100000 --downtime 10
"""

from __future__ import annotations

import argparse
import collections
import math
import random
import time
from collections.abc import Callable, Sequence

import tether
from tether.policy import next_delay

Schedule = Callable[[int, float, random.Random], float]


def policy(backoff: tether.Backoff) -> Schedule:
    def delay(attempt: int, elapsed: float, rng: random.Random) -> float:
        return next_delay(backoff, attempt, None, rng, now_wall=0.0, elapsed=elapsed)[0]

    return delay


def simulate(schedule: Schedule, sessions: int, downtime: float, seed: int) -> tuple[int, float]:
    """(peak accepted attempts in one second, seconds from server back to the last one)."""
    master = random.Random(seed)
    per_second: collections.Counter[int] = collections.Counter()
    last = 0.0
    for _ in range(sessions):
        rng = random.Random(master.random())
        t = 0.0
        for attempt in range(1, 10_000):  # bounded: a schedule that never passes downtime
            t += schedule(attempt, t, rng)
            if t >= downtime:
                break
        per_second[math.floor(t)] += 1
        last = max(last, t)
    return max(per_second.values()), last - downtime


VARIANTS: dict[str, Schedule] = {
    "bounded jitter (default)": policy(tether.Backoff()),
    "no jitter": policy(tether.Backoff(jitter=False)),
    "full jitter": policy(tether.Backoff(bounded_jitter=False)),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--downtime", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"Herd model, server down {args.downtime:g} s (policy only)\n")
    print("| sessions | backoff | peak accepted/s | vs no jitter | all back after (s) | real s |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in args.sessions:
        rows = []
        for name, schedule in VARIANTS.items():
            start = time.perf_counter()
            peak, back = simulate(schedule, n, args.downtime, args.seed)
            rows.append((name, peak, back, time.perf_counter() - start))
        base = next(peak for name, peak, _, _ in rows if name == "no jitter")
        for name, peak, back, real in rows:
            print(f"| {n} | {name} | {peak} | {base / peak:.1f}x lower | {back:.2f} | {real:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
