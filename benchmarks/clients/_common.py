"""What every client process shares: parameters in, JSON lines out, clocks and memory.

A client process is started as ``python -m clients.<module> '<params json>'`` from the
``benchmarks`` directory, runs exactly one benchmark against the echo server and
writes JSON lines to stdout:

* ``{"type": "event", ...}``: progress the parent reacts to (reconnect, dead peer);
* ``{"type": "result", "value": ..., "elapsed_s": ..., "client_cpu_s": ...,
  "server_cpu_s": ...}``: the figure, in the benchmark's unit, written as soon as it
  is measured (teardown afterwards is not timed);
* ``{"type": "error", "error": "<Type>: <message>"}``: the benchmark failed.

Every timestamp that crosses a process boundary is ``time.monotonic()`` in seconds;
on Linux it reads CLOCK_MONOTONIC, one clock for every process on the machine.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

TEXT_BYTES = 32
"""Size of the small text messages (round trip, streaming), in bytes."""

MAX_MESSAGE_BYTES = 2 * 1024 * 1024
"""Message size limit every client is configured with (2 MiB), so 1 MiB echoes pass."""

TUNED_MESSAGE_QUEUE_SIZE = 64
"""trio-websocket ``message_queue_size`` for the tuned client, in messages (tether: same)."""

TUNED_RECEIVE_BUFFER_SIZE = 65536
"""trio-websocket ``receive_buffer_size`` for the tuned client, in bytes (tether: same)."""

WARMUP_ROUND_TRIPS = 200
"""Round trips made on every connection before a throughput section starts."""

Flavour = Literal["trio", "asyncio"]


@dataclass(frozen=True)
class Params:
    """One benchmark run, as decided by the parent.

    Attributes:
        bench: benchmark key (``round_trip``, ``stream``, ``large``, ``idle``,
            ``reconnect``, ``dead_peer``).
        url: ``ws://127.0.0.1:PORT/...`` of the echo server (or of the stall proxy).
        count: messages, connections, restarts or stalls, depending on ``bench``.
        size: payload size in bytes.
        server_pid: pid of the echo server, whose CPU time is sampled.
        ping_interval: seconds between pings (``dead_peer`` only).
        ping_timeout: seconds to wait for a pong (``dead_peer`` only).
    """

    bench: str
    url: str
    count: int
    size: int
    server_pid: int
    ping_interval: float | None = None
    ping_timeout: float | None = None

    @classmethod
    def from_json(cls, text: str) -> Params:
        """Build from the JSON object the parent passes as ``argv[1]``."""
        return cls(**json.loads(text))


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, in seconds (from /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state) of proc(5); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes() -> int:
    """Resident set size of this process, in bytes (from /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def emit(kind: str, **fields: object) -> None:
    """Write one JSON line of type ``kind`` to stdout and flush it."""
    sys.stdout.write(json.dumps({"type": kind, **fields}) + "\n")
    sys.stdout.flush()


def emit_event(name: str, **fields: object) -> None:
    """Write an event line, stamped with ``t`` = ``time.monotonic()`` unless given."""
    fields.setdefault("t", time.monotonic())
    emit("event", name=name, **fields)


def describe(exc: BaseException, depth: int = 2) -> str:
    """``Type: message`` of the first leaf of a (possibly nested) exception group,
    followed by ``(from Type: message)`` for its cause, ``depth`` causes deep."""
    while True:
        inner = getattr(exc, "exceptions", None)
        if not isinstance(inner, tuple) or not inner:
            break
        exc = inner[0]
    lines = str(exc).splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and depth > 0:
        text += f" (from {describe(cause, depth - 1)})"
    return text


class Meter:
    """Wall time, this process's CPU time and the server's CPU time over one section."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.elapsed_s = 0.0
        self.client_cpu_s = 0.0
        self.server_cpu_s = 0.0
        self.reported = False

    @contextmanager
    def section(self) -> Iterator[None]:
        """Measure the body (wall seconds, CPU seconds of client and server)."""
        server0 = proc_cpu_seconds(self.server_pid)
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        yield
        self.elapsed_s = time.perf_counter() - wall0
        self.client_cpu_s = time.process_time() - cpu0
        self.server_cpu_s = proc_cpu_seconds(self.server_pid) - server0

    def report(self, value: float, **extra: object) -> None:
        """Emit the result line: ``value`` in the benchmark's unit, plus the last section."""
        emit(
            "result",
            value=value,
            elapsed_s=self.elapsed_s,
            client_cpu_s=self.client_cpu_s,
            server_cpu_s=self.server_cpu_s,
            **extra,
        )
        self.reported = True


Bench = Callable[[Params, Meter], Awaitable[None]]
"""A benchmark body: measures inside ``meter.section()`` and calls ``meter.report``."""


def _run(flavour: Flavour, body: Callable[[], Awaitable[None]]) -> None:
    if flavour == "trio":
        import trio

        trio.run(body)
    else:
        import asyncio

        async def main() -> None:
            await body()

        asyncio.run(main())


def main(benches: Mapping[str, Bench], flavour: Flavour) -> None:
    """Entry point of a client module: run the benchmark named in ``argv[1]``, then exit.

    The process exits with ``os._exit`` so that a client stuck in teardown (say, 1,000
    idle connections closing) cannot hold the run up once its figure is out.
    """
    params = Params.from_json(sys.argv[1])
    meter = Meter(params.server_pid)
    bench = benches.get(params.bench)
    if bench is None:
        emit("error", error=f"unsupported: no {params.bench!r} benchmark for this client")
        os._exit(2)
    try:
        _run(flavour, lambda: bench(params, meter))
    except BaseException as exc:
        if not meter.reported:
            emit("error", error=describe(exc))
            os._exit(1)
        print(f"after the result: {describe(exc)}", file=sys.stderr, flush=True)
    os._exit(0)
