"""Echo servers that tether did not write, for the interop suite.

Three servers speak the same little protocol (``echo_server``): every text message is
echoed as text and every binary one as binary; ``__close__:CODE`` makes the server close
that connection with CODE; ``__drop__`` makes it cut the TCP connection with no Close
frame. Each listens on 127.0.0.1 only and can be stopped and started again on the same
port (a restart):

``trio-websocket``
    in this process: ``trio.serve_tcp`` + ``trio_websocket.wrap_server_stream``.
``websockets``
    Python ``websockets`` (asyncio API) in a subprocess: ``servers/websockets_server.py``.
``node-ws``
    Node's ``ws`` in a subprocess: ``node/echo_server.js``. Needs ``node`` and
    ``npm install --prefix tests/interop/node`` (``nox -s interop`` does it); without
    them these cases are skipped, with the reason.

A subprocess server prints its port as its first line of stdout. It is started on port
0 the first time (the kernel picks a free port, no race) and on that same port again
after a restart. Stopping one is ``SIGKILL``: the kernel closes its sockets, like a
crash. Every fixture kills what it started, whatever the test did.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import pytest
import trio
import trio_websocket

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
NODE_SERVER = NODE_DIR / "echo_server.js"
WEBSOCKETS_SERVER = HERE / "servers" / "websockets_server.py"
#: Every server accepts messages up to this size (tether's own limit is 1 MiB).
MAX_MESSAGE = 16 * 2**20
#: Seconds a subprocess server may take to print its port (a cold start on a busy box).
STARTUP_TIMEOUT = 20.0
#: Seconds a killed server may take to be reaped.
STOP_TIMEOUT = 10.0

CLOSE_PREFIX = "__close__:"
DROP = "__drop__"

SERVER_KINDS = ["trio-websocket", "websockets", "node-ws"]


class EchoServer(Protocol):
    """What the tests need of a server."""

    name: str
    port: int

    @property
    def url(self) -> str: ...

    async def start(self) -> None:
        """Listen (on ``port``; 0 the first time) and set ``port``."""

    async def stop(self) -> None:
        """Stop at once: stop listening and cut every connection (no Close frame)."""


# ----------------------------------------------------------- trio-websocket, in process


class TrioWebsocketServer:
    """trio-websocket in this process; ``stop()`` cancels it (streams closed, no Close
    frame), ``start()`` listens again on the same port."""

    name = "trio-websocket"

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.port = 0
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        self._scope = trio.CancelScope()
        self._stopped = trio.Event()
        listeners = await self._nursery.start(self._serve, self._scope)
        self.port = listeners[0].socket.getsockname()[1]

    async def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            await self._stopped.wait()
            self._scope = None

    async def _serve(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[object]
    ) -> None:
        try:
            with scope:
                await trio.serve_tcp(
                    self._handle, self.port, host="127.0.0.1", task_status=task_status
                )
        finally:
            self._stopped.set()

    async def _handle(self, stream: trio.SocketStream) -> None:
        # One connection's failure (a client reset, or trio-websocket's reader raising)
        # must not take the whole server down: serve_tcp would re-raise it.
        try:
            async with trio.open_nursery() as nursery:
                request = await trio_websocket.wrap_server_stream(
                    nursery, stream, max_message_size=MAX_MESSAGE
                )
                ws = await request.accept()
                await self._echo(ws, stream)
                nursery.cancel_scope.cancel()
        except Exception as exc:
            # Not tether's to answer for, but worth seeing in the report.
            warnings.warn(f"trio-websocket server: a connection failed: {exc!r}", stacklevel=1)

    @staticmethod
    async def _echo(ws: trio_websocket.WebSocketConnection, stream: trio.SocketStream) -> None:
        try:
            while True:
                message = await ws.get_message()
                if isinstance(message, str) and message.startswith(CLOSE_PREFIX):
                    await ws.aclose(int(message[len(CLOSE_PREFIX) :]), "requested")
                    return
                if message == DROP:
                    stream.socket.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    await trio.aclose_forcefully(stream)
                    return
                await ws.send_message(message)
        except trio_websocket.ConnectionClosed:
            pass


# ------------------------------------------------------------ subprocess servers


class SubprocessServer:
    """A server in a subprocess that prints its port first; ``stop()`` kills it."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self._argv = argv
        self.port = 0
        self._process: trio.Process | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        assert self._process is None, "already running"
        process = await trio.lowlevel.open_process(
            [*self._argv, "--port", str(self.port)], stdout=subprocess.PIPE
        )
        self._process = process
        try:
            with trio.fail_after(STARTUP_TIMEOUT):
                line = await self._first_line(process)
            self.port = int(line)
        except BaseException:
            await self.stop()
            raise

    async def _first_line(self, process: trio.Process) -> bytes:
        assert process.stdout is not None
        data = b""
        while b"\n" not in data:
            chunk = await process.stdout.receive_some()
            if not chunk:
                code = await process.wait()
                raise RuntimeError(f"{self.name} server exited ({code}) before printing a port")
            data += chunk
        return data.split(b"\n", 1)[0].strip()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with trio.CancelScope(shield=True):
            process.kill()
            with trio.fail_after(STOP_TIMEOUT):
                await process.wait()
            if process.stdout is not None:
                await process.stdout.aclose()


# ---------------------------------------------------------------------- fixtures


def node_skip_reason() -> str | None:
    """Why the Node server cannot run here, or ``None`` if it can."""
    if shutil.which("node") is None:
        return "node is not installed, so the Node ws server cannot run"
    if not (NODE_DIR / "node_modules" / "ws" / "package.json").is_file():
        return (
            "the Node ws package is not installed: run "
            "`npm install --prefix tests/interop/node` (nox -s interop does)"
        )
    return None


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind == "node-ws" and (reason := node_skip_reason()) is not None:
        pytest.skip(reason)
    return kind


@pytest.fixture
async def echo_server(server_kind: str) -> AsyncIterator[EchoServer]:
    """A running echo server of ``server_kind``; stopped (killed) after the test."""
    async with trio.open_nursery() as nursery:
        server: EchoServer
        if server_kind == "trio-websocket":
            server = TrioWebsocketServer(nursery)
        elif server_kind == "websockets":
            server = SubprocessServer("websockets", [sys.executable, str(WEBSOCKETS_SERVER)])
        else:
            node = shutil.which("node")
            assert node is not None
            server = SubprocessServer("node-ws", [node, str(NODE_SERVER)])
        try:
            await server.start()
            yield server
        finally:
            with trio.CancelScope(shield=True):
                await server.stop()
            nursery.cancel_scope.cancel()
