"""The python blocks of docs/delivery.md run, as written, against the memory server on
the virtual clock, and do what the text around them says. Each block runs unchanged as
the body of an ``async def`` with the names it leaves to the reader supplied (``url``,
``Dialect`` ...) and ``tether.delivery.connect`` routed to the test's server (as
tests/test_docs_examples.py does for the other pages). A new block without a test
fails :func:`test_every_block_of_the_page_is_run`."""

from __future__ import annotations

import builtins
import json
import re
import textwrap
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

import tether
from tether.delivery import Delivery, Dialect, json_dialect
from tether.delivery import connect as delivery_connect
from tether.testing import JsonDialectServer, MemoryServer, ServerConnection, memory_server

PAGE = Path(__file__).resolve().parents[2] / "docs" / "delivery.md"
BLOCK = re.compile(r"^```python[^\n]*\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
HEADING = re.compile(r"^#{1,2} (?P<heading>.+)$", re.M)
URL = "wss://feed.example/v1"
INTRO = "Delivery: nothing lost end to end"


def blocks() -> dict[str, list[str]]:
    """``{heading: [python block, ...]}`` of the page's ``#`` and ``##`` sections."""
    text = PAGE.read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    headings = list(HEADING.finditer(text))
    for here, after in zip(headings, [*headings[1:], None], strict=False):
        section = text[here.end() : after.start() if after else len(text)]
        code = [block["code"] for block in BLOCK.finditer(section)]
        if code:
            found[here["heading"]] = code
    return found


def block(heading: str, **names: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The one block under ``heading`` as ``async def``, ``names`` as its globals (and
    what its imports get); it returns its locals."""
    (code,) = blocks()[heading]
    source = f"async def body():\n{textwrap.indent(code, '    ')}    return locals()\n"

    def import_(name: str, *args: Any, **kwargs: Any) -> Any:
        return names[name] if name in names else builtins.__import__(name, *args, **kwargs)

    namespace: dict[str, Any] = {
        "__name__": "docs",
        "__builtins__": {**vars(builtins), "__import__": import_},
        **names,
    }
    exec(compile(source, f"delivery.md: {heading}", "exec", dont_inherit=True), namespace)
    return namespace["body"]  # type: ignore[no-any-return]


class Routed:
    """``tether.delivery`` as a block sees it: ``connect`` goes to ``server`` and keeps
    the ``Delivery`` it made; the block's ``async with`` body is followed by
    ``linger`` seconds of the session running."""

    def __init__(self, server: MemoryServer, linger: float = 0) -> None:
        self.server = server
        self.linger = linger
        self.made: list[Delivery] = []

    def module(self) -> types.SimpleNamespace:
        return types.SimpleNamespace(
            connect=self.connect, json_dialect=json_dialect, Dialect=Dialect
        )

    @asynccontextmanager
    async def connect(self, url: Any, **kwargs: Any) -> AsyncIterator[Delivery]:
        kwargs.setdefault("opener", self.server.opener)
        async with delivery_connect(url, **kwargs) as delivery:
            self.made.append(delivery)
            yield delivery
            await trio.sleep(self.linger)


async def test_the_kraken_style_heartbeat_pings_every_15_s_and_takes_the_pongs(
    autojump_clock: trio.abc.Clock,
) -> None:
    pings: list[tuple[Any, float]] = []

    async def kraken(conn: ServerConnection) -> None:
        while True:
            message = json.loads(await conn.get_message())
            if message.get("method") == "ping":
                pings.append((message["req_id"], trio.current_time()))
                await conn.send_message(json.dumps({"method": "pong", "req_id": 1}))

    async with memory_server(kraken) as server:
        routed = Routed(server, linger=31)
        made = await block(
            "Heartbeats",
            Dialect=Dialect,
            connect=routed.connect,
            tether=tether,
            url=URL,
        )()
        (delivery,) = routed.made
        stats = delivery.statistics()
    assert made["kraken"].has_heartbeat
    assert pings == [(1, 15), (2, 30)]
    assert (stats.heartbeats_sent, stats.heartbeat_replies, stats.last_heartbeat_rtt) == (2, 2, 0)


async def test_the_binance_style_subscription_is_answered_and_cancelled(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def binance(conn: ServerConnection) -> None:
        while True:
            message = json.loads(await conn.get_message())
            await conn.send_message(json.dumps({"result": None, "id": message["id"]}))

    printed: list[Any] = []
    async with memory_server(binance) as server:
        routed = Routed(server)
        made = await block(
            "Subscriptions",
            Dialect=Dialect,
            connect=routed.connect,
            tether=tether,
            url=URL,
            print=printed.append,
        )()
        (delivery,) = routed.made
        stats = delivery.statistics()
    assert printed == [{"result": None, "id": 1}, {"result": None, "id": 1001}]
    assert [json.loads(m) for m in server.connections[0].messages] == [
        made["trades"],
        {"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 1001},
    ]
    assert (stats.subscriptions, stats.requests_waiting) == (0, 0)


async def test_paced_sends_take_turns_with_the_resume_message(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = JsonDialectServer()
    async with memory_server(app.handler) as server:
        routed = Routed(server)
        await block(
            "Paced sends",
            connect=routed.connect,
            json_dialect=json_dialect,
            tether=tether,
            url=URL,
        )()
        assert trio.current_time() == 4.0  # "the twentieth message goes at 4.0 s"
    assert [m["id"] for m in app.received] == list(range(20))
    assert app.resumes == [None]
