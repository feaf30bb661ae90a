"""What the delivery layer costs (issue 13): ``tether.delivery`` with the generic JSON
dialect against the plain ``tether.connect`` session, the same work and the same idiom
for both, as ratios delivery/plain.

One server for every run, in its own process (``--serve``): picows (C) on asyncio, on
127.0.0.1, speaking the generic JSON dialect as ``tether.testing.JsonDialectServer``
does, only leaner (no replay store: nothing here reconnects). Per connection, a text
message that is a JSON object with an ``"id"`` is echoed with the next ``"seq"``
spliced in (1, 2, 3 ... per connection), then acknowledged with ``{"ack": [id]}``, as
``JsonDialectServer`` publishes a reply before its acknowledgement; ``{"resume": n}``
gets nothing (nothing to replay) and ``{"ping": n}`` gets ``{"pong": n}``. The
server's CPU time is sampled from /proc over every timed section.

Two clients, each run in its own process, alternated within a round (the order
swapped every round), median of ``--rounds``:

* ``plain``: ``tether.connect(url, codec=JsonCodec())``; it reads the acknowledgements
  too (they are on the wire) and skips them: a message without ``"seq"``;
* ``delivery``: ``tether.delivery.connect(url, dialect=json_dialect(),
  codec=JsonCodec())``; every message carries an id, so it goes through the ledger
  and is held until the layer takes in its acknowledgement; ``receive()`` gets only
  the echoes.

Both use ``Config(ping_interval=None)`` and ``proxy=None``, and send the same dicts of
about 100 bytes of JSON (built before the clock starts), each with its own ``"id"``:

* (a) ``round trip``: ``await send(m)``, then await its echo, ``--round-trips`` times;
* (b) ``stream``: one task ``await send(m)`` in a loop for ``--messages`` messages,
  another receives the echoes; timed until the last echo.

Each run first makes 200 round trips, untimed. Reported per client: messages/s, the
client's CPU microseconds per message (``time.process_time``) and the server's CPU
share; the ratio delivery/plain of the medians (above 1: the layer is faster), the
median of the per-round ratios (each round's two runs side by side), and the ratio of
messages per client CPU-second.

    python benchmarks/delivery_cost.py [--rounds 7] [--round-trips 5000]
        [--messages 20000] [--quick] [--no-save]

Needs picows, trio and tether importable (``nox -s bench`` runs it); writes
benchmarks/results/delivery_cost.md. About a minute by default, a few seconds with
``--quick``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "delivery_cost.md"
HOST = "127.0.0.1"
CLIENTS = ("plain", "delivery")
BENCHES = ("round_trip", "stream")
TITLES = {"round_trip": "(a) round trip", "stream": "(b) stream"}
WARMUP = 200
#: Bound on one client run, seconds.
RUN_TIMEOUT = 60.0


def message(number: int) -> dict[str, Any]:
    """The application's message number ``number``: about 100 bytes of JSON."""
    return {
        "id": number,
        "symbol": "BTCUSDT",
        "side": "buy" if number % 2 else "sell",
        "price": f"{42000 + number % 997 * 0.01:.2f}",
        "qty": f"{(number % 13) * 0.137:.5f}",
        "ts": 1_700_000_000_000 + number,
    }


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, in seconds (from /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the server (its own process) ---------------------------------------------------


def serve() -> None:
    """``--serve``: the JSON-dialect server on 127.0.0.1, an ephemeral port. Prints
    ``{"port", "pid"}`` once listening; stops at the end of stdin."""
    import asyncio

    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    loads, dumps = json.loads, json.dumps
    text = WSMsgType.TEXT

    class Dialect(WSListener):
        def __init__(self) -> None:
            super().__init__()
            self.seq = 0

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
                return
            if kind is not text:
                return
            raw = frame.get_payload_as_bytes()
            obj = loads(raw)
            if not isinstance(obj, dict):
                return
            if "resume" in obj and len(obj) == 1:
                return  # a fresh session every connection: nothing to replay
            if "ping" in obj and len(obj) == 1:
                transport.send(text, dumps({"pong": obj["ping"]}).encode())
                return
            self.seq += 1
            transport.send(text, raw[:-1] + b',"seq":%d}' % self.seq)
            message_id = obj.get("id")
            if message_id is not None:
                transport.send(text, b'{"ack":[%s]}' % dumps(message_id).encode())

    async def main() -> None:
        server = await ws_create_server(lambda _request: Dialect(), HOST, 0)
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the end of stdin
        server.close()

    asyncio.run(main())


# -- one client run (its own process) -----------------------------------------------


async def _timed(
    bench: str,
    send: Callable[[dict[str, Any]], Awaitable[None]],
    echo: Callable[[], Awaitable[dict[str, Any]]],
    batch: list[dict[str, Any]],
    server_pid: int,
) -> _Meter:
    """The same work for both clients: WARMUP untimed round trips, then ``batch``
    timed, as round trips (``await send(m)``, then its echo) or streamed (one task
    awaiting ``send(m)`` for each, this one taking the echoes); checks the last echo
    is the last message's. ``echo``: the next echo (the plain client skips the
    acknowledgements itself)."""
    import trio

    for n in range(WARMUP):
        await send(message(n))
        await echo()
    meter = _Meter(server_pid)
    last: dict[str, Any] = {}
    if bench == "round_trip":
        with meter:
            for m in batch:
                await send(m)
                last = await echo()
    else:

        async def sender() -> None:
            for m in batch:
                await send(m)

        with meter:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender)
                for _ in batch:
                    last = await echo()
    _check(last, batch[-1])
    return meter


async def _plain(bench: str, url: str, count: int, server_pid: int) -> dict[str, float]:
    import tether

    config = tether.Config(ping_interval=None)
    batch = [message(WARMUP + n) for n in range(count)]
    async with tether.connect(url, config=config, codec=tether.JsonCodec(), proxy=None) as s:
        send, receive = s.send, s.receive

        async def echo() -> dict[str, Any]:
            while True:
                got: dict[str, Any] = await receive()
                if "seq" in got:  # not an acknowledgement
                    return got

        meter = await _timed(bench, send, echo, batch, server_pid)
        return meter.result(count)


async def _delivery(bench: str, url: str, count: int, server_pid: int) -> dict[str, float]:
    import trio

    import tether
    import tether.delivery

    config = tether.Config(ping_interval=None)
    batch = [message(WARMUP + n) for n in range(count)]
    async with tether.delivery.connect(
        url,
        dialect=tether.delivery.json_dialect(),
        codec=tether.JsonCodec(),
        config=config,
        proxy=None,
    ) as d:
        meter = await _timed(bench, d.send, d.receive, batch, server_pid)
        with trio.fail_after(10):
            await d.wait_acknowledged()  # untimed: every message was acknowledged
        stats = d.statistics()
        if stats.acknowledged != WARMUP + count or stats.resent or stats.gaps:
            raise AssertionError(f"unexpected delivery statistics: {stats}")
        return meter.result(count)


def _check(got: dict[str, Any], sent: dict[str, Any]) -> None:
    if {k: v for k, v in got.items() if k != "seq"} != sent:
        raise AssertionError(f"echo mismatch: got {got!r}, sent {sent!r}")


class _Steps:
    """A trio instrument (``--steps``): task steps and the time spent in them, per task
    name, while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.steps: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self._t0 = 0.0

    def before_task_step(self, task: Any) -> None:
        self._t0 = time.perf_counter()

    def after_task_step(self, task: Any) -> None:
        if self.on:
            name = task.name.rsplit(".", 1)[-1]
            self.steps[name] = self.steps.get(name, 0) + 1
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - self._t0


#: Set by ``client(steps=True)``; the meter turns it on over the timed section.
_STEPS: _Steps | None = None


class _Meter:
    """Wall time, this process's CPU time and the server's over the ``with`` body."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def __enter__(self) -> None:
        self.server0 = proc_cpu_seconds(self.server_pid)
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()
        if _STEPS is not None:
            _STEPS.on = True

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
        self.server = proc_cpu_seconds(self.server_pid) - self.server0
        if _STEPS is not None:
            _STEPS.on = False

    def result(self, count: int) -> dict[str, Any]:
        result: dict[str, Any] = {
            "rate": count / self.wall,
            "cpu_us": self.cpu / count * 1e6,
            "client_cpu": self.cpu / self.wall,
            "server_cpu": self.server / self.wall,
        }
        if _STEPS is not None:
            result["steps"] = {
                name: [n / count, _STEPS.seconds[name] / count * 1e6]
                for name, n in sorted(_STEPS.steps.items(), key=lambda item: -item[1])
            }
        return result


def client(kind: str, bench: str, url: str, count: int, server_pid: int, steps: bool) -> None:
    """``--client``: one run; prints its figures as one JSON line."""
    global _STEPS
    import trio

    run = _plain if kind == "plain" else _delivery
    instruments: list[Any] = []
    if steps:
        _STEPS = _Steps()
        instruments.append(_STEPS)
    result = trio.run(run, bench, url, count, server_pid, instruments=instruments)
    print(json.dumps(result), flush=True)


# -- the harness --------------------------------------------------------------------


def _run_client(
    kind: str, bench: str, url: str, count: int, server_pid: int, steps: bool
) -> dict[str, Any]:
    args = [sys.executable, __file__, "--client", kind, "--bench", bench]
    args += ["--url", url, "--count", str(count), "--server-pid", str(server_pid)]
    if steps:
        args.append("--steps")
    out = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    if out.returncode != 0:
        tail = " | ".join(out.stderr.strip().splitlines()[-3:])
        raise SystemExit(f"{kind} {bench} failed (exit code {out.returncode}): {tail}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _git_revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=HERE, capture_output=True, text=True, check=False
        ).stdout.strip()

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    return revision + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.relative_to(HERE.parent))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--round-trips", type=int, default=5_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="1 round, a tenth of the counts")
    parser.add_argument("--no-save", action="store_true", help="print the report only")
    parser.add_argument(
        "--steps",
        action="store_true",
        help="also count trio task steps per message and the time in them, per task"
        " (a trio instrument, which slows every run: the report is not saved)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--bench", choices=BENCHES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    if args.client:
        client(args.client, args.bench, args.url, args.count, args.server_pid, args.steps)
        return 0
    if args.quick:
        args.rounds = 1
        args.round_trips, args.messages = args.round_trips // 10, args.messages // 10
    counts = {"round_trip": args.round_trips, "stream": args.messages}
    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()[0]
    wall0 = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        url, pid = f"ws://{HOST}:{ready['port']}/", int(ready["pid"])
        for index in range(args.rounds):
            order = CLIENTS if index % 2 == 0 else CLIENTS[::-1]
            for bench in BENCHES:
                for kind in order:
                    result = _run_client(kind, bench, url, counts[bench], pid, args.steps)
                    results.setdefault((bench, kind), []).append(result)
                    print(
                        f"[round {index + 1}/{args.rounds}] {TITLES[bench]} {kind}:"
                        f" {result['rate']:,.0f} msgs/s",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    wall = time.monotonic() - wall0
    text = _report(args, argv, counts, results, started, load_before, wall)
    if args.steps:
        text += _steps_report(counts, results)
    print(text)
    if not args.no_save and not args.steps:
        RESULTS.write_text(text)
    return 0


def _report(
    args: argparse.Namespace,
    argv: list[str] | None,
    counts: dict[str, int],
    results: dict[tuple[str, str], list[dict[str, Any]]],
    started: dt.datetime,
    load_before: float,
    wall: float,
) -> str:
    import tether

    command = shlex.join(["python", "benchmarks/delivery_cost.py", *(argv or sys.argv[1:])])
    size = len(json.dumps(message(WARMUP + counts["stream"] // 2)))
    lines = [
        f"# Delivery layer cost (benchmarks/delivery_cost.py), {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"* command: `{command}`; {args.rounds} round(s), the two clients alternated"
        f" within each (order swapped every round); total {wall:.0f} s",
        f"* machine: {os.cpu_count()} cores; Python {platform.python_version()}; 1-min load"
        f" average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
        f"* tether {tether.__version__} at git {_git_revision()}, imported from"
        f" `{_shown(Path(tether.__file__).parent)}`",
        f"* messages: JSON objects of about {size} bytes, each with an `id`; the server"
        " (picows, its own process, 127.0.0.1) echoes each with a `seq`, then sends"
        ' `{"ack": [id]}`',
        "* `plain`: `tether.connect(codec=JsonCodec())`, skips the acknowledgements itself;"
        " `delivery`: `tether.delivery.connect(dialect=json_dialect(), codec=JsonCodec())`,"
        " the layer takes them in; both `Config(ping_interval=None)`, `proxy=None`",
        "",
        "| benchmark | client | msgs/s (median) | runs | client CPU µs/msg | client CPU %"
        " | server CPU % | delivery/plain (medians) | delivery/plain (median per round)"
        " | delivery/plain per client CPU-s |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for bench in BENCHES:
        plain_runs = results.get((bench, "plain"), [])
        delivery_runs = results.get((bench, "delivery"), [])
        if not plain_runs or not delivery_runs:
            continue
        base = statistics.median(r["rate"] for r in plain_runs)
        base_cpu = statistics.median(r["cpu_us"] for r in plain_runs)
        paired = [d["rate"] / p["rate"] for p, d in zip(plain_runs, delivery_runs, strict=True)]
        title = f"{TITLES[bench]}, {counts[bench]:,} msgs"
        for kind, runs in (("plain", plain_runs), ("delivery", delivery_runs)):
            median = statistics.median(r["rate"] for r in runs)
            cpu = statistics.median(r["cpu_us"] for r in runs)
            client_share = statistics.median(r["client_cpu"] for r in runs) * 100
            server_share = statistics.median(r["server_cpu"] for r in runs) * 100
            listed = ", ".join(f"{r['rate']:,.0f}" for r in runs)
            ratio = f"{median / base:.2f}" if kind == "delivery" else "1.00"
            per_round = f"{statistics.median(paired):.2f}" if kind == "delivery" else ""
            per_cpu = f"{base_cpu / cpu:.2f}" if kind == "delivery" else "1.00"
            lines.append(
                f"| {title} | {kind} | {median:,.0f} | {listed} | {cpu:.1f}"
                f" | {client_share:.0f} | {server_share:.0f} | {ratio} | {per_round}"
                f" | {per_cpu} |"
            )
    lines += [
        "",
        "Ratios above 1 would mean the layer is faster. Each run is its own process"
        " (after 200 untimed round trips on its connection); the server's CPU share stays"
        " well below 100 %, so the client is what is measured. Client CPU µs/msg is the"
        " figure that holds up best when something else competes for the cores; the last"
        " column is its ratio (messages per client CPU-second, delivery over plain). The"
        " round trip's wall-clock ratio is nearer 1 than its CPU ratio on an idle machine,"
        " where waking up for each echo takes a large share of the time that the layer does"
        " not add to.",
    ]
    return "\n".join(lines) + "\n"


def _steps_report(
    counts: dict[str, int], results: dict[tuple[str, str], list[dict[str, Any]]]
) -> str:
    """``--steps``: per benchmark and client, the trio task steps per message and the
    microseconds per message spent in them, per task (medians over the rounds)."""
    lines = [
        "",
        "## Trio task steps per message (--steps; the instrument slows every run)",
        "",
        "| benchmark | client | task | steps/msg | µs/msg in its steps |",
        "|---|---|---|---:|---:|",
    ]
    for bench in BENCHES:
        for kind in CLIENTS:
            runs = results.get((bench, kind), [])
            names = {name for run in runs for name in run.get("steps", {})}
            rows = []
            for name in names:
                got = [run["steps"].get(name, [0.0, 0.0]) for run in runs]
                rows.append(
                    (
                        statistics.median(g[0] for g in got),
                        statistics.median(g[1] for g in got),
                        name,
                    )
                )
            total_steps = sum(row[0] for row in rows)
            total_us = sum(row[1] for row in rows)
            title = f"{TITLES[bench]}, {counts[bench]:,} msgs"
            for steps, micros, name in sorted(rows, reverse=True):
                lines.append(f"| {title} | {kind} | {name} | {steps:.2f} | {micros:.1f} |")
            lines.append(f"| {title} | {kind} | all | {total_steps:.2f} | {total_us:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
