"""Requests (issue 13, item 4): ``request()`` returns the reply the dialect matches to
it, waits across reconnects (the request is resent while unanswered), raises
``RequestTimeout`` at the exact virtual time, and many can wait at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

import tether
from tether import JsonCodec
from tether.delivery import Dialect
from tether.delivery import connect as delivery_connect
from tether.testing import ServerConnection, memory_server

from .test_outbound import FAST, URL

RPC = Dialect(
    message_id=lambda m: m.get("id"),
    reply_to=lambda m: m.get("reply_to"),
)


class Responder:
    """Answers every ``{"id": ..., "x": ...}`` with ``{"reply_to": id, "result": x}``
    (again for a request seen before: a reply may have been lost), unless ``silent``;
    ``requests`` counts each id once."""

    def __init__(self) -> None:
        self.silent = False
        self.requests: dict[Any, int] = {}

    async def handler(self, conn: ServerConnection) -> None:
        while True:
            message = json.loads(await conn.get_message())
            self.requests[message["id"]] = self.requests.get(message["id"], 0) + 1
            if not self.silent:
                reply = {"reply_to": message["id"], "result": message["x"]}
                await conn.send_message(json.dumps(reply))


async def test_a_request_returns_its_reply_and_the_reply_skips_receive(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Responder()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=RPC, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        server.slow(0.25)
        reply = await delivery.request({"id": 1, "x": "one"})
        assert reply == {"reply_to": 1, "result": "one"}
        assert trio.current_time() == 0.5
        assert delivery.statistics().unacknowledged == 0  # the reply acknowledged it
        with trio.move_on_after(1):
            await delivery.receive()
            pytest.fail("the reply went to receive() too")


async def test_a_thousand_requests_in_flight_across_a_forced_reconnect_all_get_replies(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Responder()
    replies: dict[int, tuple[float, Any]] = {}

    async def ask(n: int) -> None:
        reply = await delivery.request({"id": n, "x": n * n})
        replies[n] = (trio.current_time(), reply)

    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=RPC, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        server.slow(0.5)  # requests reach the server at 0.5, replies would be back at 1
        async with trio.open_nursery() as nursery:
            for n in range(1000):
                nursery.start_soon(ask, n)
            await trio.sleep(0.75)
            assert delivery.statistics().requests_waiting == 1000
            server.slow(0)
            server.drop()  # t=0.75: every reply is lost on the way
            # The connection lived 0.75 s (< stable_after): attempt 2 after 1 s, at 1.75.
    assert sorted(replies) == list(range(1000))
    assert {t for t, _ in replies.values()} == {1.75}
    assert all(reply == {"reply_to": n, "result": n * n} for n, (_, reply) in replies.items())
    assert set(app.requests.values()) == {2}  # each received, lost its reply, resent
    assert server.connections[1].opened_at == 1.75


async def test_a_request_that_gets_no_reply_times_out_at_the_exact_time(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Responder()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=RPC, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        await trio.sleep(1)
        app.silent = True
        with pytest.raises(tether.RequestTimeout) as caught:
            await delivery.request({"id": "q", "x": 0}, timeout=2.5)
        assert trio.current_time() == 3.5
        assert isinstance(caught.value, TimeoutError)
        assert (caught.value.request_id, caught.value.timeout) == ("q", 2.5)
        assert str(caught.value) == "no reply to request 'q' within 2.5 s"
        stats = delivery.statistics()
        assert (stats.requests_waiting, stats.unacknowledged, stats.queued) == (0, 0, 0)
        # Not resent after a reconnect; a late reply goes to receive().
        app.silent = False
        delivery.session.reconnect()
        await delivery.session.wait_connected()
        await trio.sleep(1)
        assert app.requests == {"q": 1}
        await delivery.send({"id": "late", "x": 1})
        assert await delivery.receive() == {"reply_to": "late", "result": 1}


async def test_a_request_waits_across_an_outage(autojump_clock: trio.abc.Clock) -> None:
    app = Responder()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=RPC, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        await trio.sleep(11)
        server.stall()  # t=11: the request is written into a half-open link
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                assert await delivery.request({"id": 1, "x": 1}, timeout=None) == {
                    "reply_to": 1,
                    "result": 1,
                }
                assert trio.current_time() == 20  # ping at 15, no pong by 20: generation 2

            nursery.start_soon(ask)
        assert app.requests == {1: 1}


async def test_request_arguments_are_checked(autojump_clock: trio.abc.Clock) -> None:
    app = Responder()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=RPC, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        with pytest.raises(tether.ConfigError, match="request: the dialect finds no id"):
            await delivery.request({"x": 1})
        for timeout in (0, -1, float("nan"), "5"):
            with pytest.raises(tether.ConfigError, match="timeout: must be"):
                await delivery.request({"id": 1, "x": 1}, timeout=timeout)  # type: ignore[arg-type]
        app.silent = True
        async with trio.open_nursery() as nursery:
            nursery.start_soon(delivery.request, {"id": 7, "x": 1})
            await trio.sleep(1)
            with pytest.raises(tether.ConfigError, match="request: id 7 is already waiting"):
                await delivery.request({"id": 7, "x": 2})
            nursery.cancel_scope.cancel()  # the first one: withdrawn
        assert delivery.statistics().requests_waiting == 0
        assert delivery.statistics().unacknowledged == 0
