"""Child processes of the harness: the echo server, the stall proxy and client runs.

Every child is ``python -m <module>`` run from the ``benchmarks`` directory with the
harness's own interpreter, and talks JSON lines on stdout (see ``clients/_common.py``,
``echo_server.py`` and ``stall_proxy.py``). A reader thread queues those lines so the
harness can wait on them with a deadline.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients._common import proc_cpu_seconds

BENCH_DIR = Path(__file__).resolve().parent

RESULT_GRACE_S = 10.0
"""Seconds a client may spend tearing down after its result before it is killed."""

Record = dict[str, Any]


class LineProcess:
    """A child process whose stdout is a stream of JSON objects, one per line."""

    def __init__(self, module: str, *args: str) -> None:
        # Kept open for the life of the child; closed in stop().
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=BENCH_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def next_record(self, timeout: float) -> Record | None:
        """The next JSON object (non-JSON lines are skipped); ``None`` at end of output.

        Raises ``TimeoutError`` when nothing arrives within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError from None
            if line is None:
                return None
            if line.startswith("{"):
                record: Record = json.loads(line)
                return record

    def command(self, line: str, timeout: float = 15.0) -> Record:
        """Send one control line on stdin and return the child's one-line reply."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.next_record(timeout)
        if reply is None or "error" in reply:
            raise RuntimeError(f"{line!r} failed: {reply or self.stderr_tail()}")
        return reply

    def stderr_tail(self, lines: int = 1) -> str:
        """The last ``lines`` non-empty lines the child wrote to stderr."""
        self._stderr.flush()
        self._stderr.seek(0)
        text = [line.strip() for line in self._stderr.read().splitlines() if line.strip()]
        return " | ".join(text[-lines:])

    def stop(self, grace: float = 5.0) -> None:
        """Close stdin (which ends servers), wait ``grace`` seconds, then kill."""
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


class EchoServer(LineProcess):
    """``echo_server.py`` in its own process; ``port`` and ``pid`` once it is ready."""

    def __init__(self) -> None:
        super().__init__("echo_server")
        ready = self.next_record(timeout=30.0)
        if ready is None:
            raise RuntimeError(f"echo server did not start: {self.stderr_tail(5)}")
        self.port: int = ready["port"]
        self.pid: int = ready["pid"]

    def url(self, path: str = "/") -> str:
        """``ws://127.0.0.1:PORT/path``."""
        return f"ws://127.0.0.1:{self.port}{path}"

    def restart(self, downtime: float) -> Record:
        """Restart on the same port; returns ``instance``, ``t_drop``, ``t_ready``."""
        return self.command(f"restart {downtime}")

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far, in seconds."""
        return proc_cpu_seconds(self.pid)


class StallProxy(LineProcess):
    """``stall_proxy.py`` forwarding to the echo server; ``port`` once it is ready."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__("stall_proxy", str(upstream_port))
        ready = self.next_record(timeout=30.0)
        if ready is None:
            raise RuntimeError(f"stall proxy did not start: {self.stderr_tail(5)}")
        self.port: int = ready["port"]

    def url(self, path: str = "/") -> str:
        """``ws://127.0.0.1:PORT/path`` through the proxy."""
        return f"ws://127.0.0.1:{self.port}{path}"

    def stall(self) -> Record:
        """Stall every link open now; returns ``stalled`` (count) and ``t_stall``."""
        return self.command("stall")


@dataclass
class Outcome:
    """What one client run produced.

    ``error`` is ``None`` on success, ``"timeout"``, ``"unsupported"`` or
    ``"error: <Type>: <message>"``; ``result`` is the client's result line;
    ``events`` are its event lines in order; ``wall_s`` is the process's lifetime.
    """

    result: Record | None = None
    error: str | None = None
    events: list[Record] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def value(self) -> float | None:
        """The figure in the benchmark's unit, if the run succeeded."""
        return None if self.result is None else float(self.result["value"])


def run_client(
    module: str,
    params: Record,
    timeout: float,
    on_event: Callable[[Record], None] | None = None,
) -> Outcome:
    """Run ``clients.<module>`` once with ``params``; kill it after ``timeout`` seconds.

    ``on_event`` is called for each event line (the reconnect and dead-peer scenarios
    drive the server or proxy from it); an exception there ends the run as an error.
    """
    started = time.monotonic()
    deadline = started + timeout
    child = LineProcess(f"clients.{module}", json.dumps(params))
    outcome = Outcome()
    try:
        while outcome.result is None and outcome.error is None:
            record = child.next_record(max(0.0, deadline - time.monotonic()))
            if record is None:
                code = child.proc.wait()
                outcome.error = f"error: exit code {code}: {child.stderr_tail()}"
            elif record.get("type") == "event":
                outcome.events.append(record)
                if on_event is not None:
                    on_event(record)
            elif record.get("type") == "result":
                outcome.result = record
            elif record.get("type") == "error":
                message = str(record.get("error", "?"))
                unsupported = message.startswith("unsupported")
                outcome.error = "unsupported" if unsupported else f"error: {message}"
    except TimeoutError:
        outcome.error = "timeout"
    except Exception as exc:
        outcome.error = f"error: harness: {type(exc).__name__}: {exc}"
    child.stop(grace=RESULT_GRACE_S if outcome.error is None else 0.0)
    outcome.wall_s = time.monotonic() - started
    return outcome
