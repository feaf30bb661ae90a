"""docs/migrating.md runs: every block, tether's and the other libraries', against one
trio-websocket server on 127.0.0.1 (:func:`tests.docs_loopback.loopback_server`), and
the blocks of a section do the same thing.

Each block is the body of an ``async def`` (:func:`tests.docs_blocks.as_function`),
given ``url`` and, where it uses them, ``handle`` and ``print``. websockets' asyncio
blocks run under ``asyncio.run``; the Trio ones in the test's own Trio run, on the real
clock (real sockets).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest

from .docs_blocks import as_function, block
from .docs_loopback import loopback_server

pytestmark = pytest.mark.loopback

PAGE = "docs/migrating.md"
ASYNCIO = {"websockets"}
TRIO = {"websockets.trio", "trio-websocket", "tether"}
SUBSCRIBE = '{"op": "subscribe", "channel": "trades"}'


def snippet(key: str, **names: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    return as_function(block(PAGE, key), f"{PAGE}: {key}", names)


def run_asyncio(key: str, **names: Any) -> dict[str, Any]:
    async def bounded() -> dict[str, Any]:
        return await asyncio.wait_for(snippet(key, **names)(), 30)

    return asyncio.run(bounded())


class Printed(list[str]):
    def __call__(self, *args: Any) -> None:
        self.append(" ".join(map(str, args)))


# ----------------------------------------------------------------- the servers


async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except ConnectionClosed:
        pass


async def describe(request: WebSocketRequest) -> None:
    """Accepts ``feed.v2`` if offered; sends what it saw of the handshake."""
    headers = {name.decode().lower(): value.decode() for name, value in request.headers}
    chosen = "feed.v2" if "feed.v2" in request.proposed_subprotocols else None
    ws = await request.accept(subprotocol=chosen)
    seen = {"x-token": headers.get("x-token"), "origin": headers.get("origin")}
    await ws.send_message(json.dumps({**seen, "subprotocol": chosen}))
    try:
        await ws.get_message()
    except ConnectionClosed:
        pass


async def reject(request: WebSocketRequest) -> None:
    await request.reject(401, body=b"no token")


class Feed:
    """Each connection: wait for the subscription, send two trades; the first one is
    then closed with 1001 (a server going away), the others stay open."""

    def __init__(self) -> None:
        self.connections = 0
        self.subscriptions: list[tuple[int, str | bytes]] = []

    async def __call__(self, request: WebSocketRequest) -> None:
        self.connections += 1
        n = self.connections
        ws = await request.accept()
        try:
            self.subscriptions.append((n, await ws.get_message()))
            await ws.send_message(f"trade {n}.0")
            await ws.send_message(f"trade {n}.1")
            if n == 1:
                await ws.aclose(1001)
            else:
                await ws.get_message()
        except ConnectionClosed:
            pass


# ----------------------------------------------------------------- the sections

BASIC = ["basic: websockets", "basic: websockets.trio", "basic: trio-websocket", "basic: tether"]


@pytest.mark.parametrize("key", BASIC)
async def test_connect_send_receive_prints_the_echo(key: str) -> None:
    printed = Printed()
    with loopback_server(echo) as url:
        if key.split(": ")[1] in ASYNCIO:
            await trio.to_thread.run_sync(lambda: run_asyncio(key, url=url, print=printed))
        else:
            await snippet(key, url=url, print=printed)()
    assert printed == ["hello"]


async def test_the_same_options_reach_the_server_alike() -> None:
    websockets_printed, tether_printed = Printed(), Printed()
    with loopback_server(describe) as url:
        await trio.to_thread.run_sync(
            lambda: run_asyncio("options: websockets", url=url, print=websockets_printed)
        )
        made = await snippet("options: tether", url=url, print=tether_printed)()
    expected = {"x-token": "t0ken", "origin": "https://app.example", "subprotocol": "feed.v2"}
    assert [json.loads(line) for line in websockets_printed] == [expected]
    assert tether_printed == websockets_printed
    assert made["config"].max_message_size == 2**20


LOOPS = ["loop: websockets", "loop: trio-websocket", "loop: tether"]


@pytest.mark.parametrize("key", LOOPS)
async def test_each_reconnect_loop_subscribes_on_both_connections(key: str) -> None:
    """The server goes away after two trades; each loop reconnects, subscribes again and
    handles the next connection's trades. The loops never end: they are cancelled."""
    feed = Feed()
    handled: list[str] = []
    with loopback_server(feed) as url:
        if key.split(": ")[1] in ASYNCIO:

            async def until_four() -> None:
                four = asyncio.Event()

                def handle(message: str) -> None:
                    handled.append(message)
                    if len(handled) == 4:
                        four.set()

                task = asyncio.ensure_future(snippet(key, url=url, handle=handle)())
                waiter = asyncio.ensure_future(four.wait())
                await asyncio.wait({task, waiter}, timeout=15, return_when="FIRST_COMPLETED")
                waiter.cancel()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

            await trio.to_thread.run_sync(lambda: asyncio.run(until_four()))
        else:
            four = trio.Event()

            def handle(message: str) -> None:
                handled.append(message)
                if len(handled) == 4:
                    four.set()

            with trio.move_on_after(15):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(snippet(key, url=url, handle=handle, trio=trio))
                    await four.wait()
                    nursery.cancel_scope.cancel()
    assert handled == ["trade 1.0", "trade 1.1", "trade 2.0", "trade 2.1"]
    assert feed.subscriptions == [(1, SUBSCRIBE), (2, SUBSCRIBE)]


REJECTED = ["rejected: websockets", "rejected: trio-websocket", "rejected: tether"]


@pytest.mark.parametrize("key", REJECTED)
async def test_a_refused_handshake_is_caught_as_the_page_says(key: str) -> None:
    printed = Printed()
    with loopback_server(reject) as url:
        if key.split(": ")[1] in ASYNCIO:
            await trio.to_thread.run_sync(lambda: run_asyncio(key, url=url, print=printed))
        else:
            await snippet(key, url=url, print=printed)()
    assert printed == ["rejected: 401"]


async def test_ping_prints_the_round_trip() -> None:
    printed = Printed()
    with loopback_server(echo) as url:
        made = await snippet("ping: tether", url=url, print=printed)()
    (line,) = printed
    assert re.fullmatch(r"round trip \d+\.\d ms on generation 1", line), line
    assert 0 < made["rtt"] < 5
