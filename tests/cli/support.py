"""Shared pieces of the ``tether`` command tests: an in-process WebSocket server on
127.0.0.1 that records what it sees and can be restarted on the same port, and a
``python -m tether`` subprocess driven through pipes.

Every wait is bounded (``trio.fail_after``); every subprocess is stopped (SIGTERM, then
SIGKILL) when the test's ``nursery`` fixture is cancelled at the end of the test, pass or
fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Callable

import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
    serve_websocket,
)

#: Seconds any single wait of a test may take before it fails.
TIMEOUT = 20.0

#: The subprocess command: the ``tether`` command of the interpreter running the tests.
TETHER = [sys.executable, "-m", "tether"]


def tether_env() -> dict[str, str]:
    """The environment for a ``tether`` subprocess: no terminal size hints."""
    env = dict(os.environ)
    for name in ("COLUMNS", "LINES", "FORCE_COLOR"):
        env.pop(name, None)
    return env


class WsServer:
    """An echo server on 127.0.0.1 that records messages, close codes and handshakes.

    ``/reject`` answers the handshake with HTTP 401 and a body. :meth:`stop` cancels the
    server and its connections (the client sees them drop without a Close frame);
    :meth:`start` serves again, on the same port after the first start.
    """

    def __init__(self) -> None:
        self.port = 0
        self.received: list[str | bytes] = []
        self.close_codes: list[int | None] = []
        self.handshakes: list[tuple[str, dict[str, str], list[str]]] = []
        self._scope: trio.CancelScope | None = None
        self._changed = trio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self, nursery: trio.Nursery) -> None:
        """Serve (until :meth:`stop`) in ``nursery``; returns once listening."""
        self._scope = trio.CancelScope()
        server: WebSocketServer = await nursery.start(self._serve, self._scope)
        self.port = server.port

    def stop(self) -> None:
        assert self._scope is not None
        self._scope.cancel()

    async def wait_for(self, predicate: Callable[[WsServer], bool]) -> None:
        """Wait (bounded by :data:`TIMEOUT`) until ``predicate(self)`` holds."""
        with trio.fail_after(TIMEOUT):
            while not predicate(self):
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _serve(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[WebSocketServer]
    ) -> None:
        with scope:
            await serve_websocket(
                self._handle, "127.0.0.1", self.port, None, task_status=task_status
            )

    async def _handle(self, request: WebSocketRequest) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        self.handshakes.append((request.path, headers, list(request.proposed_subprotocols)))
        self._notify()
        if request.path == "/reject":
            await request.reject(401, body=b"token required")
            return
        subprotocols = request.proposed_subprotocols
        ws = await request.accept(subprotocol=subprotocols[0] if subprotocols else None)
        await self._echo(ws)

    async def _echo(self, ws: WebSocketConnection) -> None:
        try:
            while True:
                message = await ws.get_message()
                self.received.append(message)
                self._notify()
                with contextlib.suppress(ConnectionClosed):
                    # The peer is closing: its messages sent before the Close frame
                    # are still queued; keep reading them.
                    await ws.send_message(message)
        except ConnectionClosed as exc:
            self.close_codes.append(exc.reason.code if exc.reason else None)
            self._notify()


class Cli:
    """A ``python -m tether ...`` subprocess with piped stdin, stdout and stderr."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.stdout = ""
        self.stderr = ""
        self._changed = trio.Event()
        self._streams_done = trio.Event()
        self._open_streams = 2

    @classmethod
    async def start(cls, nursery: trio.Nursery, *args: str) -> Cli:
        process = await trio.lowlevel.open_process(
            [*TETHER, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=tether_env(),
        )
        cli = cls(process)
        nursery.start_soon(cli._collect, "stdout")
        nursery.start_soon(cli._collect, "stderr")
        nursery.start_soon(cli._reap)
        return cli

    @property
    def stdout_lines(self) -> list[str]:
        return self.stdout.splitlines()

    async def send_line(self, line: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(line.encode() + b"\n")

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    async def wait_stderr(self, pattern: str) -> re.Match[str]:
        """Wait until stderr matches the regular expression ``pattern``."""
        match: re.Match[str] | None = None

        def found() -> bool:
            nonlocal match
            match = re.search(pattern, self.stderr)
            return match is not None

        await self._wait(found, f"stderr never matched {pattern!r}")
        assert match is not None
        return match

    async def wait_stderr_count(self, pattern: str, count: int) -> None:
        """Wait until ``pattern`` has matched stderr at least ``count`` times."""
        await self._wait(
            lambda: len(re.findall(pattern, self.stderr)) >= count,
            f"stderr never matched {pattern!r} {count} times",
        )

    async def wait_stdout(self, pattern: str) -> re.Match[str]:
        """Wait until stdout matches the regular expression ``pattern``."""
        match: re.Match[str] | None = None

        def found() -> bool:
            nonlocal match
            match = re.search(pattern, self.stdout)
            return match is not None

        await self._wait(found, f"stdout never matched {pattern!r}")
        assert match is not None
        return match

    async def wait_stdout_lines(self, count: int) -> list[str]:
        await self._wait(lambda: len(self.stdout_lines) >= count, f"fewer than {count} lines")
        return self.stdout_lines

    async def wait(self) -> int:
        """Wait for the process to exit and its output to end; its exit status."""
        with trio.fail_after(TIMEOUT):
            status = await self.process.wait()
            await self._streams_done.wait()
        return status

    async def _wait(self, condition: Callable[[], bool], what: str) -> None:
        try:
            with trio.fail_after(TIMEOUT):
                while not condition():
                    await self._changed.wait()
        except trio.TooSlowError:
            raise AssertionError(
                f"{what}\n--- stdout:\n{self.stdout}\n--- stderr:\n{self.stderr}"
            ) from None

    async def _collect(self, name: str) -> None:
        stream = getattr(self.process, name)
        assert stream is not None
        data = b""
        async with stream:
            while chunk := await stream.receive_some():
                data += chunk
                setattr(self, name, data.decode("utf-8", errors="replace"))
                self._changed.set()
                self._changed = trio.Event()
        self._open_streams -= 1
        if not self._open_streams:
            self._streams_done.set()

    async def _reap(self) -> None:
        try:
            await self.process.wait()
        finally:
            if self.process.returncode is None:
                # SIGTERM first: under coverage (pyproject.toml, sigterm = true) the
                # process writes its data before it dies.
                self.process.terminate()
                with trio.CancelScope(shield=True):
                    with trio.move_on_after(5):
                        await self.process.wait()
                    if self.process.returncode is None:
                        self.process.kill()
                        with trio.move_on_after(5):
                            await self.process.wait()


async def run_tether(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m tether ARGS`` to completion with ``stdin`` (bounded; killed on
    timeout)."""
    with trio.fail_after(TIMEOUT):
        return await trio.run_process(
            [*TETHER, *args],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=tether_env(),
        )
