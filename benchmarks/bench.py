"""Benchmark tether against raw trio-websocket and other WebSocket clients.

Usage (from the repository root)::

    python benchmarks/bench.py                 # 3 interleaved runs of everything
    python benchmarks/bench.py --quick         # CI smoke: small counts, 1 run
    python benchmarks/bench.py --only tether,aiohttp --bench a,b --runs 5

One picows echo server runs in its own process on 127.0.0.1; every (benchmark,
client) run is a fresh client process, bounded by ``--timeout`` seconds. Runs are
interleaved: each round runs every selected client once per benchmark, in an order
rotated per round, so drift hits every client alike. A client that fails or times out
is reported as such and the rest of the run goes on; after a timeout, that client's
later rounds of the same benchmark are skipped. The Markdown report goes to
``benchmarks/results/<UTC timestamp>.md`` and ``latest.md`` and to stdout; progress
goes to stderr. See ``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata

from _procs import BENCH_DIR, EchoServer
from _report import Results, detail, errors, number, summary
from _scenarios import BENCH_BY_NAME, BENCHES, BenchSpec, Harness, Sample
from clients import CLIENTS, ClientSpec

PACKAGES = ("trio", "trio-websocket", "websockets", "aiohttp", "picows", "trio-tether")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="clients: "
        + ", ".join(spec.name for spec in CLIENTS)
        + "; benchmarks: "
        + ", ".join(f"{spec.letter}={spec.key}" for spec in BENCHES),
    )
    parser.add_argument("--quick", action="store_true", help="small counts, 1 run (CI smoke)")
    parser.add_argument("--runs", type=int, help="runs per (benchmark, client); default 3")
    parser.add_argument("--only", help="comma-separated clients (name or module)")
    parser.add_argument("--bench", help="comma-separated benchmarks (letter or name)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per client run (default 60)"
    )
    parser.add_argument(
        "--downtime",
        type=float,
        default=0.0,
        help="(e) seconds the restarted server keeps its port closed (default 0)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only; write no file")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when any run failed or timed out (CI)"
    )
    return parser.parse_args(argv)


def _select_clients(only: str | None) -> list[ClientSpec]:
    if not only:
        return list(CLIENTS)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    known = {key: spec for spec in CLIENTS for key in (spec.name, spec.module)}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise SystemExit(f"unknown client(s): {', '.join(unknown)}")
    return [spec for spec in CLIENTS if spec.name in wanted or spec.module in wanted]


def _select_benches(names: str | None) -> list[BenchSpec]:
    if not names:
        return list(BENCHES)
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in BENCH_BY_NAME]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}")
    keys = {BENCH_BY_NAME[name].key for name in wanted}
    return [spec for spec in BENCHES if spec.key in keys]


def _git_revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=BENCH_DIR, capture_output=True, text=True, check=False
        ).stdout.strip()

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    return revision + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _masking() -> str:
    """Which masking code the ``tether`` client runs (``tether.protocol._masking.speedups``)."""
    try:
        from tether.protocol import _masking
    except ImportError:
        return "(tether not importable)"
    return _masking.speedups


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _show(sample: Sample, unit: str) -> str:
    if sample.error:
        return sample.error
    shown = ", ".join(number(value) for value in sample.values)
    return f"{shown} {unit} ({sample.wall_s:.1f} s)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; write and print the report.

    Returns the exit status: 0, or 1 under ``--strict`` when any run failed.
    """
    args = _parse(argv)
    runs = args.runs or (1 if args.quick else 3)
    clients = _select_clients(args.only)
    benches = [
        spec
        for spec in _select_benches(args.bench)
        if any(spec.key in client.benches for client in clients)
    ]
    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()[0]
    wall0 = time.monotonic()
    server = EchoServer()
    harness = Harness(server, quick=args.quick, timeout=args.timeout, downtime=args.downtime)
    results: Results = {}
    server_cpu0 = server.cpu_seconds()
    try:
        for round_index in range(runs):
            shift = round_index % len(clients)
            order = clients[shift:] + clients[:shift]
            for spec in benches:
                for client in order:
                    if spec.key not in client.benches:
                        continue
                    cell = results.setdefault((spec.key, client.name), [])
                    if any(earlier.error == "timeout" for earlier in cell):
                        # A hung client would cost --timeout seconds every round.
                        cell.append(Sample(error="skipped: timed out in an earlier run"))
                        continue
                    sample = harness.run(spec, client)
                    cell.append(sample)
                    _progress(
                        f"[run {round_index + 1}/{runs}] ({spec.letter}) {spec.title}"
                        f" · {client.name}: {_show(sample, spec.unit)}"
                    )
        server_cpu = server.cpu_seconds() - server_cpu0
    finally:
        harness.close()
        server.stop()
    wall = time.monotonic() - wall0

    command = shlex.join(["python", "benchmarks/bench.py", *(argv or sys.argv[1:])])
    sections = [
        f"# trio-tether benchmarks, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"* command: `{command}`; {runs} run(s) per figure, interleaved; total {wall:.0f} s",
        f"* machine: {_cpu_model()}, {os.cpu_count()} cores; {platform.system()}"
        f" {platform.release()}; Python {platform.python_version()}; 1-min load average"
        f" {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (the harness itself"
        " adds up to 2: more means something else competed for the 2 cores)",
        f"* packages: {_versions()}; tether at git {_git_revision()}",
        f"* masking: `tether` masks frames with {_masking()}; `tether pure-Python` sets"
        " `TETHER_NO_SPEEDUPS=1` (pure-Python masking, no speedups extra)",
        f"* server: picows echo server on 127.0.0.1 in its own process (default asyncio"
        f" loop); {server_cpu:.1f} CPU-s over the whole run; per-benchmark shares below",
        "* cells: median (value ÷ tether's median; tether = 1.00; no ratio where tether"
        " has no figure). CPU % is percent of one core over the measured section, median"
        " over runs.",
        "",
        "## Summary",
        "",
        summary(results, benches, clients),
        "",
        "## Details",
    ]
    for spec in benches:
        sections += ["", detail(results, spec, clients, harness.describe(spec))]
    failures = errors(results)
    if failures:
        sections += ["", "## Failed runs", "", failures]
    report = "\n".join(sections) + "\n"
    print(report)
    if not args.no_save:
        out = BENCH_DIR / "results"
        out.mkdir(exist_ok=True)
        stamped = out / f"{started:%Y%m%dT%H%M%SZ}.md"
        stamped.write_text(report, encoding="utf-8")
        (out / "latest.md").write_text(report, encoding="utf-8")
        _progress(f"wrote {stamped} and {out / 'latest.md'}")
    return 1 if args.strict and failures else 0


if __name__ == "__main__":
    sys.exit(main())
