"""docs/delivery.md runs: its program against ``tether.testing.JsonDialectServer`` on the
in-memory server (through a dropped link), and its Slack dialect against a server that
sends an envelope and waits for the acknowledgement, on the virtual clock."""

from __future__ import annotations

import json
import types
from collections.abc import Awaitable, Callable
from typing import Any

import trio

import tether
from tether import delivery
from tether.delivery import Dialect
from tether.testing import JsonDialectServer, MemoryServer, ServerConnection, memory_server

from .docs_blocks import as_function, block, run_module

PAGE = "docs/delivery.md"
PROGRAM = "Delivery: nothing lost end to end"
DIALECT = "Writing a dialect"


def routed(server: MemoryServer) -> types.SimpleNamespace:
    """``tether.delivery`` with ``connect`` going to ``server``."""

    def connect(url: Any, **kwargs: Any) -> Any:
        return delivery.connect(url, opener=server.opener, **kwargs)

    return types.SimpleNamespace(**{**vars(delivery), "connect": connect})


async def test_the_program_sends_requests_and_reads_each_message_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    """m1 written, m2 acknowledged, q1 answered (the reply goes to ``request()``, not
    to the loop); then the published messages are printed once each, across a drop
    with one published while the link was down."""
    app = JsonDialectServer(respond=lambda m: {"time": 12.5} if m.get("op") == "time" else None)
    printed: list[Any] = []
    two_printed = trio.Event()

    def print_(message: Any) -> None:
        printed.append(message)
        if len(printed) == 2:
            two_printed.set()

    mains: list[tuple[Callable[..., Awaitable[None]], tuple[Any, ...]]] = []
    async with memory_server(app.handler) as server:
        run_module(
            block(PAGE, PROGRAM),
            f"{PAGE}: {PROGRAM}",
            {
                "trio": types.SimpleNamespace(
                    **{**vars(trio), "run": lambda fn, *args: mains.append((fn, args))}
                ),
                "tether.delivery": routed(server),
                "print": print_,
            },
        )
        ((main, args),) = mains
        assert args == ("wss://feed.example/v1",)
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(main, *args)
                await app.wait_received(3)
                await app.publish({"text": "one"})
                await trio.sleep(1)
                server.drop()
                await app.publish({"text": "two"})  # kept for the next resume
                await two_printed.wait()
                await trio.sleep(5)
                nursery.cancel_scope.cancel()
    assert [m["id"] for m in app.received] == ["m1", "m2", "q1"]
    assert printed == [{"text": "one", "seq": 2}, {"text": "two", "seq": 3}]
    assert app.published[0] == {"time": 12.5, "reply_to": "q1", "seq": 1}
    assert app.resumes == [None, 2]  # the second connection asked for what followed 2


async def test_the_slack_dialect_acknowledges_each_envelope(
    autojump_clock: trio.abc.Clock,
) -> None:
    made = await as_function(block(PAGE, DIALECT), f"{PAGE}: {DIALECT}", {"Dialect": Dialect})()
    slack = made["slack"]
    assert slack.client_ack({"envelope_id": "e1", "payload": {}}) == {"envelope_id": "e1"}
    assert slack.client_ack({"type": "hello"}) is None
    acks: list[Any] = []
    acknowledged = trio.Event()

    async def socket_mode(conn: ServerConnection) -> None:
        await conn.send_message(json.dumps({"envelope_id": "e1", "payload": {"n": 1}}))
        acks.append(json.loads(await conn.get_message()))
        acknowledged.set()
        await trio.sleep_forever()

    async with memory_server(socket_mode) as server:
        url = "wss://wss-primary.slack.test/link"
        codec = tether.JsonCodec()
        async with delivery.connect(url, dialect=slack, codec=codec, opener=server.opener) as d:
            with trio.fail_after(10):
                assert await d.receive() == {"envelope_id": "e1", "payload": {"n": 1}}
                await acknowledged.wait()
    assert acks == [{"envelope_id": "e1"}]
