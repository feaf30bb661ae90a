"""Subscriptions (issue 13, item 5): messages registered with ``subscribe()`` are sent
at once and again at the start of every generation, in the order they were made,
after the resume message and ``on_connect`` and before the unacknowledged and newer
sends; a subscription with an id is a request (its reply awaited, later replies kept
from ``receive()``); ``unsubscribe()`` stops the re-sends and sends the dialect's
cancelling message. Exact wire order per connection, exact virtual times."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

import tether
from tether import JsonCodec, Overflow
from tether.delivery import Dialect
from tether.delivery import connect as delivery_connect
from tether.testing import ServerConnection, memory_server

from .test_outbound import FAST, URL

FEED = Dialect(
    message_id=lambda m: m.get("id"),
    acknowledged=lambda m: m.get("ack", ()),
    control=lambda m: "ack" in m,
    reply_to=lambda m: m.get("reply_to"),
    resume=lambda last: {"resume": last},
    unsubscribe=lambda m: {"op": "unsubscribe", "channel": m["channel"]},
)


class Feed:
    """Answers every ``{"op": "subscribe"}`` with an id with ``{"reply_to": id, "ok":
    channel}`` (each time it comes, unless ``silent``), acknowledges every other
    message with an id (unless ``hold``); the wire order is in ``server.connections``."""

    def __init__(self) -> None:
        self.hold = False
        self.silent = False

    async def handler(self, conn: ServerConnection) -> None:
        while True:
            message = json.loads(await conn.get_message())
            if "id" not in message:
                continue
            if message.get("op") == "subscribe":
                if not self.silent:
                    reply = {"reply_to": message["id"], "ok": message["channel"]}
                    await conn.send_message(json.dumps(reply))
            elif not self.hold:
                await conn.send_message(json.dumps({"ack": [message["id"]]}))


def wire(conn: Any) -> list[Any]:
    """What one connection carried, shortened: the id, else the op and channel."""
    shown: list[Any] = []
    for raw in conn.messages:
        message = json.loads(raw)
        if "id" in message and message.get("op") != "subscribe":
            shown.append(message["id"])
        elif "op" in message:
            shown.append(f"{message['op']} {message.get('channel', '')}".strip())
        else:
            shown.append(message)
    return shown


async def auth(conn: tether.Connection) -> None:
    await conn.send({"op": "auth"})


async def test_subscriptions_are_resent_first_in_order_on_every_generation(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Feed()
    got: list[Any] = []
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=FEED,
            codec=JsonCodec(),
            config=FAST,
            opener=server.opener,
            on_connect=auth,
        ) as delivery,
        trio.open_nursery() as nursery,
    ):

        async def consume() -> None:
            async for message in delivery:
                got.append(message)

        nursery.start_soon(consume)
        a = {"id": "s-a", "op": "subscribe", "channel": "a"}
        assert await delivery.subscribe(a) == {"reply_to": "s-a", "ok": "a"}
        await delivery.subscribe({"op": "subscribe", "channel": "b"})  # no id: no reply
        await delivery.send({"id": 1}, wait_ack=True)
        app.hold = True  # 2 and 3 are written and never acknowledged
        await delivery.send({"id": 2})
        await delivery.send({"id": 3})
        assert delivery.subscriptions == (a, {"op": "subscribe", "channel": "b"})
        await trio.sleep(1)
        server.go_down()  # t=1: attempt 1 refused at once, attempt 2 at t=2
        async with trio.open_nursery() as sending:
            sending.start_soon(delivery.send, {"id": 4})  # newer: after all of it
            await trio.sleep(0.5)
            app.hold = False
            server.come_back()
        assert trio.current_time() == 2
        await delivery.wait_acknowledged()
        assert wire(server.connections[0]) == [
            {"resume": None},
            "auth",
            "subscribe a",
            "subscribe b",
            1,
            2,
            3,
        ]
        assert wire(server.connections[1]) == [
            {"resume": None},
            "auth",
            "subscribe a",
            "subscribe b",
            2,
            3,
            4,
        ]
        await delivery.unsubscribe(a)  # FEED's cancelling message has no id: written
        assert delivery.subscriptions == ({"op": "subscribe", "channel": "b"},)
        delivery.session.reconnect()
        await delivery.session.wait_connected()
        await trio.sleep(1)
        assert wire(server.connections[1])[-1] == "unsubscribe a"
        assert wire(server.connections[2]) == [{"resume": None}, "auth", "subscribe b"]
        stats = delivery.statistics()
        assert (stats.subscriptions, stats.resubscribed) == (1, 3)
        nursery.cancel_scope.cancel()
    assert got == []  # the replies to a's re-send reached no one


async def test_a_subscription_made_during_an_outage_goes_once_in_order(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Feed()
    replies: list[tuple[float, Any]] = []
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=FEED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        await delivery.subscribe({"id": "s-a", "op": "subscribe", "channel": "a"})
        server.go_down()  # t=0: back at attempt 2, t=1

        async def subscribe_b() -> None:
            reply = await delivery.subscribe({"id": "s-b", "op": "subscribe", "channel": "b"})
            replies.append((trio.current_time(), reply))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(subscribe_b)
            await trio.sleep(0.25)
            nursery.start_soon(delivery.send, {"id": 5})
            await trio.sleep(0.25)
            server.come_back()
        assert wire(server.connections[1]) == [
            {"resume": None},
            "subscribe a",  # re-sent by the hook
            "subscribe b",  # its first write: flushed in order, once
            5,
        ]
    assert replies == [(1, {"reply_to": "s-b", "ok": "b"})]


async def test_a_subscription_without_a_reply_times_out_and_is_dropped(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Feed()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=FEED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        app.silent = True
        with pytest.raises(tether.RequestTimeout) as caught:
            await delivery.subscribe({"id": "s", "op": "subscribe", "channel": "a"}, timeout=3)
        assert trio.current_time() == 3
        assert (caught.value.request_id, caught.value.timeout) == ("s", 3)
        assert delivery.subscriptions == ()
        stats = delivery.statistics()
        assert (stats.subscriptions, stats.requests_waiting, stats.queued) == (0, 0, 0)
        delivery.session.reconnect()
        await delivery.session.wait_connected()
        await trio.sleep(1)
        assert wire(server.connections[1]) == [{"resume": None}]  # not re-sent


async def test_a_subscription_waits_for_its_reply_across_a_reconnect(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Its first write got no reply on generation 1; the re-send on generation 2 does,
    and that reply is the one subscribe() returns."""
    app = Feed()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=FEED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
        trio.open_nursery() as nursery,
    ):
        app.silent = True

        async def answer_later() -> None:
            await trio.sleep(2)
            app.silent = False
            delivery.session.reconnect()  # t=2: generation 2 opens at once

        nursery.start_soon(answer_later)
        reply = await delivery.subscribe({"id": "s", "op": "subscribe", "channel": "a"})
        assert reply == {"reply_to": "s", "ok": "a"}
        assert trio.current_time() == 2
        assert [wire(c) for c in server.connections] == [
            [{"resume": None}, "subscribe a"],
            [{"resume": None}, "subscribe a"],
        ]


async def test_subscribe_and_unsubscribe_arguments_are_checked(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = Feed()
    answering = Dialect(
        message_id=lambda m: m.get("id"),
        reply_to=lambda m: m.get("reply_to"),
        unsubscribe=lambda m: {"id": "un-" + m["id"], "op": "subscribe", "channel": "-"},
    )
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=answering,
            codec=JsonCodec(),
            config=FAST,
            opener=server.opener,
            overflow=Overflow.RAISE,
        ) as delivery,
    ):
        a = {"id": "a", "op": "subscribe", "channel": "a"}
        await delivery.subscribe(a)
        with pytest.raises(tether.ConfigError, match="subscribe: this message is subscribed"):
            await delivery.subscribe(dict(a))
        with pytest.raises(tether.ConfigError, match="subscribe: id 'a' is subscribed"):
            await delivery.subscribe({"id": "a", "op": "subscribe", "channel": "z"})
        with pytest.raises(tether.ConfigError, match="timeout: must be"):
            await delivery.subscribe({"op": "x"}, timeout=0)
        with pytest.raises(tether.ConfigError, match="unsubscribe: this message is not"):
            await delivery.unsubscribe({"op": "never"})
        with pytest.raises(TypeError):
            await delivery.subscribe({"op": object()})
        assert delivery.subscriptions == (a,)
        # The cancelling message has an id: a request, its reply returned.
        assert await delivery.unsubscribe(a) == {"reply_to": "un-a", "ok": "-"}
        assert delivery.subscriptions == ()
        # A cancelled subscribe() leaves nothing subscribed.
        app.silent = True
        with trio.move_on_after(1):
            await delivery.subscribe({"id": "c", "op": "subscribe", "channel": "c"})
        assert delivery.subscriptions == ()
        assert delivery.statistics().requests_waiting == 0
