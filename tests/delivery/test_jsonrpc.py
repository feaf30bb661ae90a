"""The JSON-RPC 2.0 dialect (issue 13, item 8): requests by id get their response (a
result or an error), notifications are sent once, an unanswered request is sent again
after a reconnect, and what is not a response to a waiting request (the server's own
requests and notifications, a batch, a late response) goes to ``receive()``."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

import tether
from tether import JsonCodec
from tether.delivery import connect as delivery_connect
from tether.delivery import jsonrpc_dialect
from tether.testing import ServerConnection, memory_server

from .test_outbound import FAST, URL

RPC = jsonrpc_dialect()


def test_the_dialect_reads_requests_and_responses() -> None:
    assert RPC.message_id({"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 7}) == 7
    assert RPC.message_id({"jsonrpc": "2.0", "method": "add", "id": "a"}) == "a"
    for no_id in (
        {"jsonrpc": "2.0", "method": "log", "params": ["x"]},  # a notification
        {"jsonrpc": "2.0", "method": "add", "id": None},
        {"jsonrpc": "2.0", "method": "add", "id": True},
        {"jsonrpc": "2.0", "result": 3, "id": 7},  # a response is no request
        [{"jsonrpc": "2.0", "method": "add", "id": 1}],  # a batch
    ):
        assert RPC.message_id(no_id) is None
    assert RPC.reply_to({"jsonrpc": "2.0", "result": 3, "id": 7}) == 7
    assert RPC.reply_to({"jsonrpc": "2.0", "error": {"code": -32601}, "id": "a"}) == "a"
    for not_a_response in (
        {"jsonrpc": "2.0", "error": {"code": -32700}, "id": None},  # parse error
        {"jsonrpc": "2.0", "method": "ping", "id": 7},  # the server's own request
        {"jsonrpc": "2.0", "method": "tick", "params": {}},
        [{"jsonrpc": "2.0", "result": 1, "id": 1}],
    ):
        assert RPC.reply_to(not_a_response) is None
    assert RPC.sequence({"id": 1}) is None and RPC.resume(None) is None
    assert not RPC.has_heartbeat


class Calculator:
    """A JSON-RPC server: ``add`` and ``fail``; a notification is recorded, never
    answered; with ``mute`` it reads and answers nothing. ``calls`` counts each
    request id it received."""

    def __init__(self) -> None:
        self.mute = False
        self.calls: dict[Any, int] = {}
        self.notes: list[Any] = []

    async def handler(self, conn: ServerConnection) -> None:
        while True:
            request = json.loads(await conn.get_message())
            if "id" not in request:
                self.notes.append(request["params"])
                continue
            self.calls[request["id"]] = self.calls.get(request["id"], 0) + 1
            if self.mute:
                continue
            if request["method"] == "add":
                response = {"jsonrpc": "2.0", "result": sum(request["params"]), "id": request["id"]}
            else:
                error = {"code": -32000, "message": "it failed"}
                response = {"jsonrpc": "2.0", "error": error, "id": request["id"]}
            await conn.send_message(json.dumps(response))


def call(method: str, params: Any, id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": id}


async def test_requests_get_their_result_or_error_and_notifications_go_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Calculator()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=RPC, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as rpc,
    ):
        replies = {}

        async def ask(n: int) -> None:
            replies[n] = await rpc.request(call("add", [n, n], n))

        async with trio.open_nursery() as nursery:
            for n in range(100):
                nursery.start_soon(ask, n)
        assert replies == {n: {"jsonrpc": "2.0", "result": 2 * n, "id": n} for n in range(100)}
        failed = await rpc.request(call("fail", [], "f"))
        assert failed["error"] == {"code": -32000, "message": "it failed"}
        await rpc.send({"jsonrpc": "2.0", "method": "log", "params": ["hello"]})
        await trio.sleep(1)
        assert app.notes == [["hello"]]
        stats = rpc.statistics()
        assert (stats.unacknowledged, stats.requests_waiting, stats.acknowledged) == (0, 0, 101)
        with pytest.raises(tether.ConfigError, match="request: the dialect finds no id"):
            await rpc.request({"jsonrpc": "2.0", "method": "log", "params": []})


async def test_an_unanswered_request_is_sent_again_after_a_reconnect(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Calculator()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=RPC, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as rpc,
        trio.open_nursery() as nursery,
    ):
        app.mute = True

        async def recover() -> None:
            await trio.sleep(3)
            app.mute = False
            server.drop()  # t=3: lived 3 s < stable_after: attempt 2 after 1 s, at 4

        nursery.start_soon(recover)
        assert await rpc.request(call("add", [2, 3], 1)) == {"jsonrpc": "2.0", "result": 5, "id": 1}
        assert trio.current_time() == 4
        assert app.calls == {1: 2}  # at-least-once: the server saw it on both connections


async def test_the_server_s_own_messages_and_late_responses_go_to_receive(
    autojump_clock: trio.abc.Clock,
) -> None:
    pushed = [
        {"jsonrpc": "2.0", "method": "tick", "params": {"n": 1}},
        {"jsonrpc": "2.0", "method": "ping", "id": "server-1"},
        [{"jsonrpc": "2.0", "result": 1, "id": 99}],
        {"jsonrpc": "2.0", "result": 0, "id": 42},  # no request waits for id 42
        {"jsonrpc": "2.0", "error": {"code": -32700, "message": "parse error"}, "id": None},
    ]

    async def push(conn: ServerConnection) -> None:
        for message in pushed:
            await conn.send_message(json.dumps(message))
        await trio.sleep_forever()

    async with (
        memory_server(push) as server,
        delivery_connect(
            URL, dialect=RPC, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as rpc,
    ):
        assert [await rpc.receive() for _ in pushed] == pushed
