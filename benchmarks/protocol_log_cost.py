"""What the ``tether.protocol`` logger costs: sequential round trips (benchmark (a):
32-byte text echoes, one at a time) against the picows echo server (``echo_server.py``,
its own process, 127.0.0.1), in three builds, each client in its own process,
interleaved, median of ``--rounds``:

* ``hooks removed``: a copy of ``src/tether`` with the connection layer's guarded
  ``self._log`` lines (and the handshake's) stripped: the code as it was before the
  logger;
* ``disabled``: the source as it is, the logger off (the default: a ``NullHandler``
  on ``tether``, no level set), so each read and write pays one ``is None`` test;
* ``enabled``: ``tether.protocol`` at DEBUG, records formatted into ``/dev/null``.

Run: ``python benchmarks/protocol_log_cost.py [--messages 20000] [--rounds 3]`` with
picows, trio and tether importable (``nox -s bench`` runs it after ``bench.py``); prints
a Markdown table with each build's rate and its ratio to ``hooks removed``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "src" / "tether"
#: A guarded hook: ``if log is not None:`` / ``if self._log is not None:`` and its line.
HOOK = re.compile(r"^( *)if (self\._)?log is not None:\n\1    .*\n", re.MULTILINE)


def strip_hooks(target: Path) -> int:
    """Copy ``src/tether`` to ``target/tether`` without the logger's hooks; returns how
    many were removed."""
    shutil.copytree(SOURCE, target / "tether")
    removed = 0
    for name in ("_client.py", "_open.py"):
        path = target / "tether" / "connection" / name
        text, count = HOOK.subn("", path.read_text())
        path.write_text(text)
        removed += count
    return removed


async def _round_trips(url: str, count: int) -> float:
    import tether

    config = tether.Config(ping_interval=None)
    message = "x" * 32
    async with tether.connect(url, config=config, proxy=None) as session:
        for _ in range(200):  # warm up
            await session.send(message)
            await session.receive()
        start = time.perf_counter()
        for _ in range(count):
            await session.send(message)
            await session.receive()
        return count / (time.perf_counter() - start)


def worker(url: str, count: int, enabled: bool) -> None:
    import trio

    if enabled:
        handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
        handler.setFormatter(logging.Formatter("%(name)s %(generation)s %(message)s"))
        logger = logging.getLogger("tether.protocol")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    import tether

    rate = trio.run(_round_trips, url, count)
    print(json.dumps({"rate": rate, "source": str(Path(tether.__file__).parent)}))


def _run(pythonpath: Path, url: str, count: int, enabled: bool) -> float:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    args = [sys.executable, __file__, "--worker", url, "--messages", str(count)]
    if enabled:
        args.append("--enabled")
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # The build asked for, not an installed copy (an editable install's finder could win).
    assert Path(result["source"]) == pythonpath / "tether", result["source"]
    return float(result["rate"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", metavar="URL")
    parser.add_argument("--enabled", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.messages, args.enabled)
        return
    server = subprocess.Popen(
        [sys.executable, "-m", "echo_server"],
        cwd=HERE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        url = f"ws://127.0.0.1:{ready['port']}/"
        with tempfile.TemporaryDirectory() as tmp:
            stripped = Path(tmp)
            removed = strip_hooks(stripped)
            assert removed == 5, f"expected 5 hooks to strip, found {removed}"
            builds = {
                "hooks removed": (stripped, False),
                "disabled": (SOURCE.parent, False),
                "enabled": (SOURCE.parent, True),
            }
            rates: dict[str, list[float]] = {name: [] for name in builds}
            for _ in range(args.rounds):
                for name, (path, enabled) in builds.items():
                    rates[name].append(_run(path, url, args.messages, enabled))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)
    base = statistics.median(rates["hooks removed"])
    print(f"round trips, {args.messages:,} x 32 B, median of {args.rounds} (interleaved)\n")
    print("| build | msgs/s (median) | runs | ratio to hooks removed |")
    print("|---|---:|---|---:|")
    for name, values in rates.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"| {name} | {median:,.0f} | {runs} | {median / base:.3f} |")


if __name__ == "__main__":
    main()
