"""10,000 concurrent sessions in one process against one local server (issue 14, item 4).

One picows server (``--role server``, its own process, 127.0.0.1, a fresh one per client
run) accepts every connection and, when told, pushes one ticker message (about 115 bytes
of JSON) per second to every connection, all in one burst per tick. One client process
per run (``--role client``) raises its own ``RLIMIT_NOFILE``, opens ``--sessions``
sessions, at most ``--concurrency`` opening at a time, each with its own task receiving,
and then counts what arrives. Per client it reports:

* the time to open them all (from the first open to the last) and the CPU it took;
* RSS per session: VmRSS growth (``/proc/self/statm``, after ``gc.collect()``) over a
  baseline taken with one session already open, divided by the sessions; once when all
  are open and idle, once after the push;
* client CPU per message over the push (``time.process_time``, pings included), the
  share of it spent in the cyclic garbage collector (``gc.callbacks``), GC-tracked
  objects per session, and the messages delivered out of those sent (sessions x ticks).

Runs alternate between the clients (the order rotated per run); cells are medians.
Clients run with their defaults, no proxy lookup: tether ``connect(url, proxy=None)``
(``Config()``: pings every 20 s, permessage-deflate offered), ``websockets`` asyncio
``connect(url, proxy=None)`` (pings every 20 s, permessage-deflate offered). Both offer
``permessage-deflate; client_max_window_bits``; the server answers as a ``websockets``
server does by default, ``permessage-deflate; server_max_window_bits=12;
client_max_window_bits=12`` (context takeover both ways), so each client inflates every
message with a long-lived 4 KiB-window decompressor. Every connection receives the same
messages from the first one on, so the server compresses each tick once, with one
compressor, and sends the same bytes to all (a connection that joined later gets
uncompressed messages, which RFC 7692 allows). ``--compression off`` negotiates none.

    python benchmarks/scale.py                      # 10,000 sessions, 3 runs per client
    python benchmarks/scale.py --sessions 200 --seconds 5 --no-save   # smoke
    python benchmarks/scale.py --runs 1 --only tether --gc-freeze

Needs picows and websockets (the bench environment: ``.nox/bench/bin/python``). Writes
``benchmarks/results/scale.md`` (``scale-compression-off.md`` with ``--compression off``);
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _deflate_offers import deflate_offers
from clients._common import describe, emit, emit_event, rss_bytes

CLIENTS = ("tether", "websockets asyncio")
"""Client kinds, in the order of the table; the ratios are to the last one."""

PEER = "websockets asyncio"
KIB = 1024
MIB = 1024 * 1024
FD_MARGIN = 256
"""File descriptors asked above one per session (the interpreter, epoll, pipes)."""

SERVER_WINDOW_BITS = 12
"""The window the server compresses with and grants the client: websockets' default."""


# --------------------------------------------------------------------------- limits


def raise_file_limit(sessions: int) -> tuple[int, int]:
    """Raise this process's soft ``RLIMIT_NOFILE`` to hold ``sessions`` sockets.

    Returns the new (soft, hard) limits. Raises ``OSError`` when the hard limit is too
    low (raising it needs privileges: ``ulimit -Hn`` shows it).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = sessions + FD_MARGIN
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft, hard
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise OSError(f"RLIMIT_NOFILE hard limit {hard} < {needed} needed for {sessions} sessions")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed, hard


# --------------------------------------------------------------------------- server


def ticker(seq: int) -> bytes:
    """The pushed message: about 110 bytes of JSON, different on every tick."""
    price = 42_000 + (seq * 37 % 1000) / 100
    return json.dumps(
        {
            "type": "ticker",
            "symbol": "BTC-USD",
            "seq": seq,
            "price": f"{price:.2f}",
            "bid": f"{price - 0.01:.2f}",
            "ask": f"{price + 0.01:.2f}",
            "ts": 1_700_000_000_000 + seq * 1000,
        },
        separators=(",", ":"),
    ).encode()


def deflate_answer(offer: str | None) -> str | None:
    """The ``Sec-WebSocket-Extensions`` answer to ``offer``, or ``None`` to decline.

    Accepts the first permessage-deflate offer the shared compressor can serve: not one
    that asks ``server_no_context_takeover`` or a server window under 12 bits.
    """
    for params in deflate_offers(offer):
        if "server_no_context_takeover" in params:
            continue
        asked = params.get("server_max_window_bits")
        if asked and int(asked) < SERVER_WINDOW_BITS:
            continue
        answer = f"permessage-deflate; server_max_window_bits={SERVER_WINDOW_BITS}"
        if "client_max_window_bits" in params:
            bits = min(SERVER_WINDOW_BITS, int(params["client_max_window_bits"] or 15))
            answer += f"; client_max_window_bits={bits}"
        return answer
    return None


def serve(compression: bool, sessions: int) -> None:
    """The server role: one JSON line ``{"port", "pid"}``, then commands on stdin.

    ``count``: ``{"connections", "deflate"}``. ``push <ticks>``: one message per second
    to every open connection, ``ticks`` times; replies once the last is written with
    ``{"ticks", "sent", "send_s", "raw_bytes", "wire_bytes"}`` (``send_s``: seconds
    spent in the send loops; the bytes are of one message). End of stdin: exit.
    """
    import asyncio
    import zlib

    from picows import (
        WSFrame,
        WSListener,
        WSMsgType,
        WSTransport,
        WSUpgradeRequest,
        WSUpgradeResponse,
        WSUpgradeResponseWithListener,
        ws_create_server,
    )

    try:
        raise_file_limit(sessions + 1)  # and the warm-up session
    except OSError as exc:
        emit("error", error=describe(exc))
        os._exit(1)
    connections: dict[WSTransport, bool] = {}  # transport -> receives the deflate stream
    compressor = zlib.compressobj(6, zlib.DEFLATED, -SERVER_WINDOW_BITS, 5)
    state = {"compressed": 0}

    class Push(WSListener):  # type: ignore[misc]
        def __init__(self, deflate: bool) -> None:
            super().__init__()
            # Only a connection that has seen the shared stream from its start can inflate it.
            self.deflate = deflate and state["compressed"] == 0

        def on_ws_connected(self, transport: WSTransport) -> None:
            connections[transport] = self.deflate

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            connections.pop(transport, None)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is WSMsgType.CLOSE:  # pings are answered by picows
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    def factory(request: WSUpgradeRequest) -> Any:
        answer = deflate_answer(request.headers.get("Sec-WebSocket-Extensions"))
        if not compression or answer is None:
            return Push(deflate=False)
        response = WSUpgradeResponse.create_101_response(
            extra_headers={"Sec-WebSocket-Extensions": answer}
        )
        return WSUpgradeResponseWithListener(response, Push(deflate=True))

    async def push(ticks: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        sent, send_s, raw, wire = 0, 0.0, b"", b""
        for tick in range(ticks):
            await asyncio.sleep(max(0.0, start + tick - loop.time()))
            t0 = time.perf_counter()
            raw = ticker(state["compressed"] + tick)
            wire = (compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
            for transport, deflate in list(connections.items()):
                if deflate:
                    transport.send(WSMsgType.TEXT, wire, True, True)
                else:
                    transport.send(WSMsgType.TEXT, raw)
                sent += 1
            send_s += time.perf_counter() - t0
        state["compressed"] += ticks
        return {
            "ticks": ticks,
            "sent": sent,
            "send_s": send_s,
            "raw_bytes": len(raw),
            "wire_bytes": len(wire),
        }

    async def main() -> None:
        server = await ws_create_server(
            factory, "127.0.0.1", 0, backlog=4096, websocket_handshake_timeout=30
        )
        emit("ready", port=server.sockets[0].getsockname()[1], pid=os.getpid())
        loop = asyncio.get_running_loop()
        while True:
            words = (await loop.run_in_executor(None, sys.stdin.readline)).split()
            if not words or words[0] == "quit":
                break
            if words[0] == "count":
                emit("count", connections=len(connections), deflate=sum(connections.values()))
            elif words[0] == "push":
                emit("pushed", **await push(int(words[1])))
            else:
                emit("error", error=f"unknown command {words[0]!r}")

    asyncio.run(main())
    os._exit(0)  # 10,000 connections need no orderly close


# --------------------------------------------------------------------------- clients


class Counts:
    """What the client's sessions received, and how the run went."""

    def __init__(self, sessions: int) -> None:
        self.per_session = [0] * sessions
        self.warm = 0
        self.ended: list[str] = []  # sessions whose receive loop ended, why

    def total(self) -> int:
        return sum(self.per_session)

    def summary(self, expected_each: int) -> dict[str, Any]:
        low = min(self.per_session, default=0)
        return {
            "received": self.total(),
            "warm_received": self.warm,
            "min_per_session": low,
            "max_per_session": max(self.per_session, default=0),
            "short_sessions": sum(1 for n in self.per_session if n < expected_each),
            "ended": len(self.ended),
            "ended_first": self.ended[0] if self.ended else None,
        }


def client(
    kind: str, url: str, sessions: int, concurrency: int, open_timeout: float, freeze: bool
) -> None:
    """The client role: open the sessions, then answer commands on stdin.

    Writes ``{"type": "event", "name": "opened", ...}`` once all are open (or an error
    line), then answers ``start`` (zero the counts, start the CPU clock), ``count`` and
    ``stop`` (the result: CPU, messages, RSS after), one JSON line each, and exits.
    """
    soft, hard = raise_file_limit(sessions)
    counts = Counts(sessions)
    probe: dict[str, Any] = {"nofile_soft": soft, "nofile_hard": hard, "gc_freeze": freeze}
    try:
        if kind == "tether":
            _tether_client(url, sessions, concurrency, open_timeout, counts, probe)
        elif kind == PEER:
            _websockets_client(url, sessions, concurrency, open_timeout, counts, probe)
        else:
            raise ValueError(f"unknown client {kind!r}")
    except BaseException as exc:
        emit("error", error=describe(exc))
        os._exit(1)
    os._exit(0)  # teardown of 10,000 sessions is not measured


class GcClock:
    """CPU seconds this process spends in the cyclic garbage collector (``gc.callbacks``;
    ``time.thread_time`` of the thread that collects), and collections per generation."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.runs = [0, 0, 0]
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.thread_time()
        else:
            self.cpu_s += time.thread_time() - self._start
            self.runs[info["generation"]] += 1

    def snapshot(self) -> tuple[float, list[int]]:
        return self.cpu_s, list(self.runs)


class Control:
    """The client side of the harness's stdin protocol, shared by both event loops.

    ``baseline()`` once the warm-up session is open, ``opened()`` once all are, then
    ``handle()`` per command line.
    """

    def __init__(self, counts: Counts, probe: dict[str, Any]) -> None:
        self.counts = counts
        self.probe = probe
        self.freeze = bool(probe["gc_freeze"])
        self.gc_clock = GcClock()
        self.expected_each = 0

    def baseline(self) -> None:
        """RSS and GC-tracked objects before the sessions; starts the open's clocks."""
        gc.collect()
        self.rss_before = rss_bytes()
        self.objects_before = len(gc.get_objects())
        self.open_gc = self.gc_clock.snapshot()
        self.open_cpu0 = time.process_time()

    def opened(self, open_s: float) -> None:
        cpu = time.process_time() - self.open_cpu0
        gc_s = self.gc_clock.snapshot()[0] - self.open_gc[0]
        gc.collect()
        rss_after = rss_bytes()
        sessions = len(self.counts.per_session)
        emit_event(
            "opened",
            open_s=open_s,
            open_cpu_s=cpu,
            open_gc_share=gc_s / cpu if cpu else 0.0,
            rss_before_mib=self.rss_before / MIB,
            rss_opened_mib=rss_after / MIB,
            kib_per_session=(rss_after - self.rss_before) / sessions / KIB,
            **self.probe,
        )
        if self.freeze:  # what an application can do: the sessions out of full collections
            gc.freeze()

    def handle(self, line: str, extra: Callable[[], dict[str, Any]]) -> None:
        """Answer one command; ``stop`` (or end of stdin) ends the process."""
        words = line.split()
        if not words or words[0] == "stop":
            cpu = time.process_time() - self.cpu0
            wall = time.perf_counter() - self.wall0
            gc_s, runs = self.gc_clock.snapshot()
            gc.collect()
            rss = rss_bytes()
            sessions = len(self.counts.per_session)
            # Counted after the RSS reading: the list of every object is large.
            objects = len(gc.get_objects()) + gc.get_freeze_count()
            emit(
                "result",
                client_cpu_s=cpu,
                wall_s=wall,
                push_gc_share=(gc_s - self.push_gc[0]) / cpu if cpu else 0.0,
                push_gc_runs=[now - then for now, then in zip(runs, self.push_gc[1], strict=True)],
                rss_after_mib=rss / MIB,
                kib_per_session_after=(rss - self.rss_before) / sessions / KIB,
                objects_per_session=(objects - self.objects_before) / sessions,
                **self.counts.summary(self.expected_each),
                **extra(),
            )
            os._exit(0)  # teardown of 10,000 sessions is not measured
        if words[0] == "start":
            self.expected_each = int(words[1])
            self.counts.per_session[:] = [0] * len(self.counts.per_session)
            self.counts.warm = 0
            self.push_gc = self.gc_clock.snapshot()
            self.wall0 = time.perf_counter()
            self.cpu0 = time.process_time()
            emit("started")
        elif words[0] == "count":
            emit("count", received=self.counts.total(), ended=len(self.counts.ended))
        else:
            emit("error", error=f"unknown command {words[0]!r}")


def _tether_client(
    url: str,
    sessions: int,
    concurrency: int,
    open_timeout: float,
    counts: Counts,
    probe: dict[str, Any],
) -> None:
    import trio

    import tether

    control = Control(counts, probe)
    opened: list[tether.Session] = []

    async def receive(session: tether.Session, index: int | None) -> None:
        try:
            if index is None:
                while True:
                    await session.receive()
                    counts.warm += 1
            per_session = counts.per_session
            while True:
                await session.receive()
                per_session[index] += 1
        except Exception as exc:
            counts.ended.append(describe(exc))

    async def one(index: int, gate: trio.Semaphore, all_open: trio.Event) -> None:
        await gate.acquire()
        released = False
        try:
            async with tether.connect(url, proxy=None) as session:
                gate.release()
                released = True
                opened.append(session)
                if len(opened) == sessions:
                    all_open.set()
                await receive(session, index)
        finally:
            if not released:
                gate.release()

    async def main() -> None:
        async with trio.open_nursery() as nursery, tether.connect(url, proxy=None) as warm:
            nursery.start_soon(receive, warm, None)
            control.baseline()
            gate = trio.Semaphore(concurrency)
            all_open = trio.Event()
            started = time.perf_counter()
            for index in range(sessions):
                nursery.start_soon(one, index, gate, all_open)
            with trio.fail_after(open_timeout):
                await all_open.wait()
            control.opened(time.perf_counter() - started)

            def extra() -> dict[str, Any]:
                return {
                    "reconnected": sum(1 for s in opened if s.generation > 1),
                    "extension": _tether_extension(opened[0]),
                }

            while True:
                line = await trio.to_thread.run_sync(sys.stdin.readline)
                control.handle(line, extra)

    trio.run(main)


def _tether_extension(session: Any) -> str:
    """Whether the session inflates: its payload bytes on the wire and inflated."""
    stats = session.statistics()
    return (
        f"{stats.bytes_received:,} bytes received, {stats.bytes_received_uncompressed:,} inflated"
    )


def _websockets_client(
    url: str,
    sessions: int,
    concurrency: int,
    open_timeout: float,
    counts: Counts,
    probe: dict[str, Any],
) -> None:
    import asyncio

    from websockets.asyncio.client import ClientConnection, connect

    control = Control(counts, probe)
    opened: list[ClientConnection] = []
    failed: list[Exception] = []

    async def receive(ws: ClientConnection, index: int | None) -> None:
        try:
            if index is None:
                while True:
                    await ws.recv()
                    counts.warm += 1
            per_session = counts.per_session
            while True:
                await ws.recv()
                per_session[index] += 1
        except Exception as exc:
            counts.ended.append(describe(exc))

    async def one(index: int, gate: asyncio.Semaphore, all_open: asyncio.Event) -> None:
        await gate.acquire()
        released = False
        try:
            async with connect(url, proxy=None) as ws:
                gate.release()
                released = True
                opened.append(ws)
                if len(opened) == sessions:
                    all_open.set()
                await receive(ws, index)
        except Exception as exc:
            if not released:  # end the run now, not at the open timeout
                failed.append(exc)
                all_open.set()
        finally:
            if not released:
                gate.release()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with connect(url, proxy=None) as warm:
            tasks = {asyncio.create_task(receive(warm, None))}
            control.baseline()
            gate = asyncio.Semaphore(concurrency)
            all_open = asyncio.Event()
            started = time.perf_counter()
            tasks.update(asyncio.create_task(one(i, gate, all_open)) for i in range(sessions))
            await asyncio.wait_for(all_open.wait(), open_timeout)
            if failed:
                raise failed[0]
            control.opened(time.perf_counter() - started)

            def extra() -> dict[str, Any]:
                return {
                    "reconnected": 0,
                    "extension": opened[0].response.headers.get("Sec-WebSocket-Extensions"),
                }

            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                control.handle(line, extra)

    asyncio.run(main())


# --------------------------------------------------------------------------- harness


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_once(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """One client run against a fresh server; returns every figure of the run."""
    from _procs import LineProcess
    from clients._common import proc_cpu_seconds

    server = LineProcess(
        "scale",
        "--role",
        "server",
        "--compression",
        args.compression,
        "--sessions",
        str(args.sessions),
    )
    try:
        ready = server.next_record(timeout=30.0)
        if ready is None or ready.get("type") != "ready":
            raise RuntimeError(f"server did not start: {ready or server.stderr_tail(5)}")
        server_pid = ready["pid"]
        url = f"ws://127.0.0.1:{ready['port']}/"
        server_cpu0 = proc_cpu_seconds(server_pid)
        child = LineProcess(
            "scale",
            "--role",
            "client",
            "--client",
            kind,
            "--url",
            url,
            "--sessions",
            str(args.sessions),
            "--concurrency",
            str(args.concurrency),
            "--open-timeout",
            str(args.open_timeout),
            *(["--gc-freeze"] if args.gc_freeze else []),
        )
        try:
            opened = child.next_record(timeout=args.open_timeout + 60.0)
            if opened is None or opened.get("type") != "event":
                raise RuntimeError(f"{kind}: {opened or child.stderr_tail(3)}")
            server_open_cpu = proc_cpu_seconds(server_pid) - server_cpu0
            connected = server.command("count")
            child.command(f"start {args.seconds}")
            server_cpu1 = proc_cpu_seconds(server_pid)
            wall1 = time.perf_counter()
            pushed = server.command(f"push {args.seconds}", timeout=args.seconds + 60.0)
            push_wall = time.perf_counter() - wall1
            server_push_cpu = proc_cpu_seconds(server_pid) - server_cpu1
            expected = args.sessions * args.seconds
            deadline = time.monotonic() + args.drain
            while time.monotonic() < deadline:  # let the client drain the last tick
                if child.command("count")["received"] >= expected:
                    break
                time.sleep(0.1)
            result = child.command("stop", timeout=60.0)
        finally:
            child.stop(grace=10.0)
    finally:
        server.stop(grace=5.0)
    messages = result["received"] + result["warm_received"]
    return {
        **opened,
        **result,
        "connected": connected,
        "pushed": pushed,
        "expected": expected,
        "cpu_us_per_message": result["client_cpu_s"] / max(1, messages) * 1e6,
        "client_cpu_share": result["client_cpu_s"] / result["wall_s"],
        "server_open_cpu_s": server_open_cpu,
        "server_push_cpu_share": server_push_cpu / push_wall,
        "server_send_s": pushed["send_s"],
    }


COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("open_s", "time to open {n} (s)", "{:,.1f}"),
    ("kib_per_session", "RSS per session, idle (KiB)", "{:,.1f}"),
    ("kib_per_session_after", "RSS per session after the push (KiB)", "{:,.1f}"),
    ("cpu_us_per_message", "client CPU µs per message", "{:,.1f}"),
)


def report(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace, meta: str) -> str:
    """The Markdown report: the table (medians, ratios to websockets asyncio), details."""
    n = f"{args.sessions:,}"
    medians = {
        kind: {key: statistics.median(run[key] for run in runs) for key, _, _ in COLUMNS}
        for kind, runs in results.items()
        if runs
    }
    peer = medians.get(PEER)
    heads = [title.format(n=n) for _, title, _ in COLUMNS]
    lines = [
        f"# {n} concurrent sessions, one process, one local server",
        "",
        meta,
        "",
        "| client | " + " | ".join(heads) + " | messages delivered |",
        "|---|" + "---:|" * (len(heads) + 1),
    ]
    for kind, runs in results.items():
        if not runs:
            lines.append(
                f"| {kind} | " + " | ".join("failed" for _ in range(len(heads) + 1)) + " |"
            )
            continue
        cells = []
        for key, _, fmt in COLUMNS:
            value = medians[kind][key]
            ratio = f" ({value / peer[key]:.2f})" if peer and peer[key] else ""
            cells.append(fmt.format(value) + ratio)
        received = sum(run["received"] for run in runs)
        expected = sum(run["expected"] for run in runs)
        cells.append(f"{received:,} / {expected:,}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Cells: median over runs (ratio to {PEER}'s median; below 1 is less time,"
        " memory or CPU than it).",
        "",
        "| client | run | open s | open CPU s | KiB/session idle | after | objects/session"
        " | CPU µs/msg | client CPU % | GC % of CPU (open, push) | collections (gen 0/1/2)"
        " | server CPU % (push) | received | short sessions | ended | reconnected"
        " | compression seen |",
        "|---|" + "---:|" * 14 + "---|",
    ]
    for kind, runs in results.items():
        for index, run in enumerate(runs, 1):
            cells = [
                kind,
                str(index),
                f"{run['open_s']:.1f}",
                f"{run['open_cpu_s']:.1f}",
                f"{run['kib_per_session']:.1f}",
                f"{run['kib_per_session_after']:.1f}",
                f"{run['objects_per_session']:.0f}",
                f"{run['cpu_us_per_message']:.1f}",
                f"{run['client_cpu_share'] * 100:.0f}",
                f"{run['open_gc_share'] * 100:.0f}, {run['push_gc_share'] * 100:.0f}",
                "/".join(str(n) for n in run["push_gc_runs"]),
                f"{run['server_push_cpu_share'] * 100:.0f}",
                f"{run['received']:,}",
                str(run["short_sessions"]),
                str(run["ended"]),
                str(run["reconnected"]),
                f"`{run['extension']}`",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def harness(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import datetime as dt
    import platform
    import shlex

    from bench import _cpu_model, _git_revision, _versions

    kinds = [kind for kind in CLIENTS if args.only is None or kind in args.only.split(",")]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    needed = args.sessions + 1 + FD_MARGIN
    if hard != resource.RLIM_INFINITY and hard < needed:
        print(
            f"scale: {args.sessions:,} sessions need RLIMIT_NOFILE {needed:,}; the hard"
            f" limit is {hard:,} (`ulimit -Hn`; raising it needs privileges)",
            file=sys.stderr,
        )
        return 2
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    failures: list[str] = []
    loads: list[str] = []
    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    wall0 = time.monotonic()
    for run in range(args.runs):
        order = kinds[run % len(kinds) :] + kinds[: run % len(kinds)]
        for kind in order:
            try:
                figures = run_once(kind, args)
            except Exception as exc:
                failures.append(f"{kind}, run {run + 1}: {describe(exc)}")
                _progress(f"[run {run + 1}/{args.runs}] {kind}: {failures[-1]}")
                continue
            results[kind].append(figures)
            loads.append(f"{os.getloadavg()[0]:.2f}")
            _progress(
                f"[run {run + 1}/{args.runs}] {kind}: open {figures['open_s']:.1f} s,"
                f" {figures['kib_per_session']:.1f} KiB/session idle,"
                f" {figures['kib_per_session_after']:.1f} after,"
                f" {figures['cpu_us_per_message']:.1f} µs/msg,"
                f" {figures['received']:,}/{figures['expected']:,} delivered,"
                f" server {figures['server_push_cpu_share'] * 100:.0f} % CPU,"
                f" load {os.getloadavg()[0]:.2f}"
            )
    load_after = os.getloadavg()
    command = shlex.join(["python", "benchmarks/scale.py", *argv])
    first = next((runs[0] for runs in results.values() if runs), None)
    agreed = (
        ""
        if first is None
        else f" (agreed on {first['connected']['deflate']:,} of"
        f" {first['connected']['connections']:,} connections)"
    )
    answer = (
        f"`permessage-deflate; server_max_window_bits={SERVER_WINDOW_BITS};"
        f" client_max_window_bits={SERVER_WINDOW_BITS}`, context takeover both ways"
        if args.compression == "deflate"
        else "none"
    )
    pushes = [run["server_push_cpu_share"] * 100 for runs in results.values() for run in runs]
    server_cpu = f"{min(pushes):.0f}-{max(pushes):.0f} %" if pushes else "n/a"
    size = (
        ""
        if first is None
        else (
            f"; each message {first['pushed']['raw_bytes']} bytes of JSON,"
            f" {first['pushed']['wire_bytes']} on the wire"
        )
    )
    meta = "\n".join(
        [
            f"* {started:%Y-%m-%d %H:%M} UTC, command: `{command}`;"
            f" {time.monotonic() - wall0:.0f} s in all",
            f"* machine: {_cpu_model()}, {os.cpu_count()} cores; Python"
            f" {platform.python_version()}; load average (1, 5 min)"
            f" {load_before[0]:.2f}, {load_before[1]:.2f} before and"
            f" {load_after[0]:.2f}, {load_after[1]:.2f} after",
            f"* 1-min load average after each client run: {', '.join(loads) or 'n/a'}"
            " (the client and server add about 1 while they run; more means something else"
            " competed for the cores)",
            f"* packages: {_versions()}; tether at git {_git_revision()}",
            f"* {args.sessions:,} sessions opened {args.concurrency} at a time; then"
            f" {args.seconds} ticks, one a second to every session{size}",
            f"* server: picows on 127.0.0.1, its own process, a fresh one per client run;"
            f" CPU {server_cpu} of one core while it pushes; extension answered:"
            f" {answer}{agreed}",
            "* clients: tether `connect(url, proxy=None)`, websockets asyncio"
            " `connect(url, proxy=None)`: defaults otherwise (pings every 20 s,"
            " permessage-deflate offered); every session has its own receiving task"
            + ("; `gc.freeze()` once all are open" if args.gc_freeze else ""),
        ]
    )
    text = report(results, args, meta)
    if failures:
        text += "\nFailed runs:\n\n" + "".join(f"* {failure}\n" for failure in failures)
    print(text)
    if not args.no_save:
        from _procs import BENCH_DIR

        name = "scale.md" if args.compression == "deflate" else "scale-compression-off.md"
        (BENCH_DIR / "results" / name).write_text(text, encoding="utf-8")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=20, help="ticks pushed (one a second)")
    parser.add_argument("--runs", type=int, default=3, help="runs per client (median)")
    parser.add_argument("--concurrency", type=int, default=100, help="opens at a time")
    parser.add_argument("--only", help="clients, comma-separated: " + ", ".join(CLIENTS))
    parser.add_argument("--compression", choices=["deflate", "off"], default="deflate")
    parser.add_argument("--open-timeout", type=float, default=180.0)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() in the client once all sessions are open (an application's knob)",
    )
    parser.add_argument(
        "--drain", type=float, default=10.0, help="seconds to wait for the last tick"
    )
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--role", choices=["server", "client"], help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "server":
        serve(args.compression == "deflate", args.sessions)
    elif args.role == "client":
        client(
            args.client,
            args.url,
            args.sessions,
            args.concurrency,
            args.open_timeout,
            args.gc_freeze,
        )
    return harness(args, argv)


if __name__ == "__main__":
    sys.exit(main())
