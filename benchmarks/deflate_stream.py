"""A JSON stream with permessage-deflate on (issue 12): each client sends N market-data
messages (about 300 bytes of JSON each) with ``await send()`` in a loop while a second
task receives their echoes, against two servers in turn: Node ``ws`` with
``perMessageDeflate`` (tests/interop/node/echo_server.js, ``--compression on``), an
independent server, and picows with Python's zlib (``deflate_echo_server.py``), which is
not the bottleneck: on a 2-core machine Node ``ws`` sets the pace for every client (with
it on a core of its own the three clients came within 10 % of each other), so only the
second measures the clients. A run fails if compression was not negotiated. Every
client compresses with
the same zlib settings: a 15-bit window, ``memLevel=5``, level 6 (``websockets``'
defaults; tether's ``Compression(client_max_window_bits=15)``).

Reported per client, median of ``--runs`` runs in separate processes, alternated:
messages/s (N / wall time) against each server, bytes on the wire per message (both
ways, handshake included, as the Node server's socket counted them, divided by N), and
client CPU microseconds per message (``time.process_time``).

Memory with compression negotiated (issue 12): each client, with its own default
configuration (tether's: pings on, ``Compression()``), opens ``--connections`` (1,000)
connections to the same server in one process: RSS growth per connection once they are
open and idle (``idle``), then again once each has sent and received one message
(``active``: with context takeover, each keeps its zlib streams). RSS from /proc after
``gc.collect()``, one connection opened first so lazy imports are in the baseline.

    python benchmarks/deflate_stream.py [--messages N] [--runs R]

Needs node and ``npm install --prefix tests/interop/node``; writes
benchmarks/results/deflate_stream.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_SERVER = HERE.parent / "tests" / "interop" / "node" / "echo_server.js"
#: The picows echo server with permessage-deflate (Python's zlib): not the bottleneck.
PICOWS_SERVER = HERE / "deflate_echo_server.py"
CLIENTS = ["tether", "websockets asyncio", "websockets.trio"]


def messages(count: int) -> list[str]:
    return [
        json.dumps(
            {
                "stream": "btcusdt@depth",
                "data": {
                    "e": "depthUpdate",
                    "E": 1700000000000 + i,
                    "s": "BTCUSDT",
                    "U": 4000000 + i,
                    "u": 4000003 + i,
                    "b": [
                        [f"{42000 - i % 97 * 0.01:.2f}", f"{(i % 13) * 0.137:.5f}"],
                        [f"{41999 - i % 61 * 0.01:.2f}", f"{(i % 11) * 0.173:.5f}"],
                    ],
                    "a": [
                        [f"{42001 + i % 89 * 0.01:.2f}", f"{(i % 7) * 0.211:.5f}"],
                        [f"{42002 + i % 53 * 0.01:.2f}", f"{(i % 5) * 0.307:.5f}"],
                    ],
                },
            }
        )
        for i in range(count)
    ]


def run_client(kind: str, url: str, count: int) -> dict[str, float]:
    batch = messages(count)
    # Imported before the clock starts.
    import asyncio

    import trio
    import websockets.asyncio.client
    import websockets.trio.client  # noqa: F401

    import tether

    start_cpu, start = time.process_time(), time.perf_counter()
    if kind == "tether":
        import trio

        import tether

        async def main() -> None:
            config = tether.Config(
                ping_interval=None, compression=tether.Compression(client_max_window_bits=15)
            )
            async with tether.connect(url, config=config) as session:

                async def receive() -> None:
                    for _ in range(count):
                        await session.receive()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(receive)
                    for message in batch:
                        await session.send(message)
                stats = session.statistics()
                if stats.bytes_sent >= stats.bytes_sent_uncompressed:
                    raise RuntimeError("tether: compression was not negotiated")

        trio.run(main)
    elif kind == "websockets.trio":
        import trio
        from websockets.trio.client import connect

        async def main_trio() -> None:
            async with connect(url, ping_interval=None, max_queue=None) as ws:

                async def receive() -> None:
                    for _ in range(count):
                        await ws.recv()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(receive)
                    for message in batch:
                        await ws.send(message)
                if not ws.protocol.extensions:
                    raise RuntimeError("websockets.trio: compression was not negotiated")

        trio.run(main_trio)
    else:
        import asyncio

        from websockets.asyncio.client import connect as aconnect

        async def main_asyncio() -> None:
            async with aconnect(url, ping_interval=None, max_queue=None) as ws:

                async def receive() -> None:
                    for _ in range(count):
                        await ws.recv()

                task = asyncio.create_task(receive())
                for message in batch:
                    await ws.send(message)
                await task
                if not ws.protocol.extensions:
                    raise RuntimeError("websockets asyncio: compression was not negotiated")

        asyncio.run(main_asyncio())
    elapsed = time.perf_counter() - start
    return {
        "rate": count / elapsed,
        "cpu_us": (time.process_time() - start_cpu) / count * 1e6,
    }


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_memory(kind: str, url: str, count: int) -> dict[str, float]:
    """RSS growth per connection, KiB: ``idle`` once ``count`` connections are open,
    ``active`` once each has exchanged one compressed message. Raises if compression
    was not negotiated."""
    message = messages(1)[0]
    figures: dict[str, float] = {}

    def measure(name: str, before: int) -> None:
        gc.collect()
        figures[name] = (rss_bytes() - before) / count / 1024

    if kind == "tether":
        import trio

        import tether

        async def main() -> None:
            async with contextlib.AsyncExitStack() as stack:
                links = []
                for index in range(count + 1):
                    session = await stack.enter_async_context(tether.connect(url, proxy=None))
                    links.append(session)
                    if index == 0:
                        await session.send(message)
                        await session.receive()
                        gc.collect()
                        before = rss_bytes()
                measure("idle", before)
                for session in links[1:]:
                    await session.send(message)
                    await session.receive()
                measure("active", before)
                stats = links[-1].statistics()
                if stats.bytes_sent >= stats.bytes_sent_uncompressed:
                    raise RuntimeError("tether: compression was not negotiated")
                os._exit(_report(figures))  # skip closing 1,000 sessions

        trio.run(main)
    elif kind == "websockets.trio":
        import trio
        from websockets.trio.client import connect

        async def main_trio() -> None:
            async with contextlib.AsyncExitStack() as stack:
                links = []
                for index in range(count + 1):
                    ws = await stack.enter_async_context(connect(url))
                    links.append(ws)
                    if index == 0:
                        await ws.send(message)
                        await ws.recv()
                        gc.collect()
                        before = rss_bytes()
                measure("idle", before)
                for ws in links[1:]:
                    await ws.send(message)
                    await ws.recv()
                measure("active", before)
                if not links[-1].protocol.extensions:
                    raise RuntimeError("websockets.trio: compression was not negotiated")
                os._exit(_report(figures))

        trio.run(main_trio)
    else:
        import asyncio

        from websockets.asyncio.client import connect as aconnect

        async def main_asyncio() -> None:
            links = []
            for index in range(count + 1):
                ws = await aconnect(url)
                links.append(ws)
                if index == 0:
                    await ws.send(message)
                    await ws.recv()
                    gc.collect()
                    before = rss_bytes()
            measure("idle", before)
            for ws in links[1:]:
                await ws.send(message)
                await ws.recv()
            measure("active", before)
            if not links[-1].protocol.extensions:
                raise RuntimeError("websockets asyncio: compression was not negotiated")
            os._exit(_report(figures))

        asyncio.run(main_asyncio())
    return figures


def _report(figures: dict[str, float]) -> int:
    sys.stdout.write(json.dumps(figures) + "\n")
    sys.stdout.flush()
    return 0


def memory_rows(node: str, connections: int, runs: int) -> list[str]:
    """The memory table (median of ``runs``), against a server of its own."""
    server = subprocess.Popen(
        [node, str(NODE_SERVER), "--compression", "on"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = f"ws://127.0.0.1:{int(server.stdout.readline())}/"
        results: dict[str, list[dict[str, float]]] = {kind: [] for kind in CLIENTS}
        for _ in range(runs):
            for kind in CLIENTS:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--memory-client",
                        kind,
                        "--url",
                        url,
                        "--connections",
                        str(connections),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                results[kind].append(json.loads(out.stdout))
    finally:
        server.kill()
        server.wait()
    lines = [
        f"## Memory with compression negotiated, {connections:,} connections, median of {runs}",
        "",
        "| client (its defaults) | idle KiB/conn | active KiB/conn (one message each way) |",
        "|---|---:|---:|",
    ]
    for kind in CLIENTS:
        idle = statistics.median(r["idle"] for r in results[kind])
        active = statistics.median(r["active"] for r in results[kind])
        lines.append(f"| {kind} | {idle:,.1f} | {active:,.1f} |")
    return lines


def stream_runs(
    server_command: list[str], args: argparse.Namespace, *, traffic: bool
) -> dict[str, list[dict[str, float]]]:
    """Each client's stream runs (``args.runs`` each, alternated, a process per run)
    against one server started with ``server_command`` (it prints its port first).
    ``traffic``: the server writes a JSON line of its byte counts to stderr after each
    connection (Node ``ws``'s ``--traffic``), from which ``wire`` (bytes per message,
    both ways) is taken."""
    server = subprocess.Popen(
        server_command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if traffic else subprocess.DEVNULL,
        text=True,
    )
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in CLIENTS}
    try:
        assert server.stdout is not None
        url = f"ws://127.0.0.1:{int(server.stdout.readline())}/"
        for _ in range(args.runs):
            for kind in CLIENTS:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--client",
                        kind,
                        "--url",
                        url,
                        "--messages",
                        str(args.messages),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                result = json.loads(out.stdout)
                if traffic:
                    assert server.stderr is not None
                    counted = json.loads(server.stderr.readline())  # the server's count
                    result["wire"] = (counted["read"] + counted["written"]) / args.messages
                results[kind].append(result)
    finally:
        server.kill()
        server.wait()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=1_000)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--memory-client", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(run_client(args.client, args.url, args.messages)))
        return 0
    if args.memory_client:
        run_memory(args.memory_client, args.url, args.connections)
        return 0
    node = shutil.which("node")
    if node is None or not (NODE_SERVER.parent / "node_modules" / "ws").is_dir():
        print("deflate_stream: needs node and `npm install --prefix tests/interop/node`")
        return 0
    node_results = stream_runs(
        [node, str(NODE_SERVER), "--compression", "on", "--traffic"], args, traffic=True
    )
    picows_results = stream_runs([sys.executable, str(PICOWS_SERVER)], args, traffic=False)
    lines = [
        f"# permessage-deflate JSON stream, {args.messages:,} messages, median of {args.runs}",
        "",
        "| client | msgs/s, Node `ws` server (ratio to websockets asyncio) "
        "| wire bytes/msg (both ways) | client CPU µs/msg "
        "| msgs/s, picows server (ratio) | client CPU µs/msg |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def median(results: dict[str, list[dict[str, float]]], kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    node_peer = median(node_results, "websockets asyncio", "rate")
    picows_peer = median(picows_results, "websockets asyncio", "rate")
    for kind in CLIENTS:
        rate = median(node_results, kind, "rate")
        fast = median(picows_results, kind, "rate")
        lines.append(
            f"| {kind} | {rate:,.0f} ({rate / node_peer:.2f}) "
            f"| {median(node_results, kind, 'wire'):,.0f} "
            f"| {median(node_results, kind, 'cpu_us'):,.1f} "
            f"| {fast:,.0f} ({fast / picows_peer:.2f}) "
            f"| {median(picows_results, kind, 'cpu_us'):,.1f} |"
        )
    raw = len(messages(1)[0])
    lines += ["", f"Uncompressed message: {raw} bytes of JSON.", ""]
    lines += memory_rows(node, args.connections, args.runs)
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "results" / "deflate_stream.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
