"""A trio-websocket server on 127.0.0.1 in a thread of its own, for the docs' blocks that
are not tether: websockets' asyncio client runs in an asyncio loop, so the server
cannot share the test's Trio run. Each connection is handed to ``handler`` as a
``trio_websocket.WebSocketRequest``."""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import trio
from trio_websocket import WebSocketRequest, serve_websocket

Handler = Callable[[WebSocketRequest], Awaitable[None]]


@contextmanager
def loopback_server(handler: Handler) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port) while the block runs; yields the
    ``ws://`` URL. On exit the server and its connections are cancelled."""
    started: queue.Queue[tuple[trio.lowlevel.TrioToken, trio.CancelScope, int]] = queue.Queue()
    failed: list[BaseException] = []

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(serve_websocket, handler, "127.0.0.1", 0, ssl_context=None)
            )
            started.put((trio.lowlevel.current_trio_token(), nursery.cancel_scope, server.port))

    def run() -> None:
        try:
            trio.run(serve)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failed.append(exc)
            started.put(None)  # type: ignore[arg-type]

    thread = threading.Thread(target=run, name="docs loopback server", daemon=True)
    thread.start()
    running = started.get(timeout=30)
    if running is None:
        raise failed[0]
    token, scope, port = running
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        token.run_sync_soon(scope.cancel)  # from any thread, even one inside trio.run
        thread.join(30)
    assert not failed, failed
