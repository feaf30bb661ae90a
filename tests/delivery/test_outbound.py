"""Outbound at-least-once (issue 13, item 1): a message with an id stays in the ledger
until the server acknowledges it, and after a reconnect the unacknowledged ones are
written again first, in their original order, before anything newer. All on the
virtual clock against the memory server; times are exact."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing

import tether
from tether import Backoff, Config, JsonCodec, Overflow, events
from tether.delivery import Dialect
from tether.delivery import connect as delivery_connect
from tether.testing import ServerConnection, memory_server

from ..helpers import EventLog

URL = "ws://delivery.test/"

#: Pings every 5 s, pong within 5 s; backoff 1, 2, 4 ... without jitter.
FAST = Config(
    ping_interval=5,
    ping_timeout=5,
    connect_timeout=10,
    close_timeout=2,
    backoff=Backoff(initial=1, maximum=8, jitter=False),
)

#: Outbound ``{"id": ...}`` is acknowledged by inbound ``{"ack": [ids]}``.
ACKED = Dialect(
    message_id=lambda m: m.get("id") if isinstance(m, dict) else None,
    acknowledged=lambda m: m.get("ack", ()),
    control=lambda m: "ack" in m,
)


class AckServer:
    """A server application that acknowledges every message with an id (unless
    ``hold`` is set) and takes each id once: ``delivered`` is what its application
    got, in order; ``duplicates`` counts the ids it had seen already."""

    def __init__(self) -> None:
        self.hold = False
        self.delivered: list[Any] = []
        self.seen: set[Any] = set()
        self.duplicates = 0

    async def handler(self, conn: ServerConnection) -> None:
        while True:
            message = json.loads(await conn.get_message())
            if "id" not in message:
                self.delivered.append(message)
                continue
            if message["id"] in self.seen:
                self.duplicates += 1
            else:
                self.seen.add(message["id"])
                self.delivered.append(message)
            if not self.hold:
                await conn.send_message(json.dumps({"ack": [message["id"]]}))


def ids(messages: list[str | bytes]) -> list[Any]:
    return [json.loads(m).get("id", json.loads(m)) for m in messages]


async def test_unacknowledged_messages_are_resent_first_in_order_before_newer_ones(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = AckServer()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=ACKED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        app.hold = True  # the server takes them, its acknowledgements are lost
        for n in range(1, 6):
            await delivery.send({"id": n})
        await trio.sleep(1)
        assert ids(server.connections[0].messages) == [1, 2, 3, 4, 5]
        assert delivery.statistics().unacknowledged == 5
        server.go_down()  # t=1: the link dies; attempt 1 is refused, attempt 2 at t=2
        app.hold = False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(delivery.send, {"id": 6})  # newer: written once reconnected
            await trio.sleep(0.1)
            nursery.start_soon(delivery.send, {"note": "no id"})
            await trio.sleep(0.1)
            server.come_back()
        assert trio.current_time() == 2
        await delivery.wait_acknowledged()
        assert trio.current_time() == 2
        assert server.connections[-1].opened_at == 2
        assert ids(server.connections[-1].messages) == [1, 2, 3, 4, 5, 6, {"note": "no id"}]
        assert [m.get("id") for m in app.delivered] == [1, 2, 3, 4, 5, 6, None]
        assert app.duplicates == 5
        stats = delivery.statistics()
        assert (stats.unacknowledged, stats.acknowledged, stats.resent) == (0, 6, 5)


async def test_messages_written_into_a_stalled_link_arrive_once_after_the_loss(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = AckServer()
    acknowledged_at: dict[int, float] = {}

    async def send(n: int) -> None:
        await delivery.send({"id": n}, wait_ack=True)
        acknowledged_at[n] = trio.current_time()

    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=ACKED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
        trio.open_nursery() as nursery,
    ):
        await delivery.send({"id": 0}, wait_ack=True)
        await trio.sleep(1)
        server.stall()  # t=1: half-open; writes succeed, nothing arrives
        for n in range(1, 4):
            nursery.start_soon(send, n)
            await trio.sleep(0.1)  # in this order
        await trio.sleep(0.5)
        assert delivery.statistics().unacknowledged == 3  # written, not acknowledged
        # The ping at t=5 gets no pong by t=10: PING_TIMEOUT, then at once generation 2.
    assert acknowledged_at == {1: 10, 2: 10, 3: 10}
    assert ids(server.connections[0].messages) == [0]
    assert ids(server.connections[1].messages) == [1, 2, 3]
    assert [m["id"] for m in app.delivered] == [0, 1, 2, 3]
    assert app.duplicates == 0


async def test_wait_ack_returns_when_the_acknowledgement_arrives(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = AckServer()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=ACKED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        server.slow(0.25)  # every chunk arrives 0.25 s after it was sent
        start = trio.current_time()
        await delivery.send({"id": "a"})
        assert trio.current_time() == start  # written at once
        await delivery.send({"id": "b"}, wait_ack=True)
        assert trio.current_time() == start + 0.5  # one round trip
        with pytest.raises(tether.ConfigError, match="wait_ack: the dialect finds no id"):
            await delivery.send({"no": "id"}, wait_ack=True)
        app.hold = True
        await delivery.send({"id": "c"})
        with pytest.raises(tether.ConfigError, match="message_id: 'c' is already unacknowledged"):
            await delivery.send({"id": "c"})


@pytest.mark.parametrize("overflow", list(Overflow))
async def test_the_ledger_is_bounded_with_the_send_buffer_policies(
    autojump_clock: trio.abc.Clock, overflow: Overflow
) -> None:
    app = AckServer()
    log = EventLog()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=ACKED,
            codec=JsonCodec(),
            config=FAST,
            opener=server.opener,
            max_unacknowledged=2,
            overflow=overflow,
            on_event=log,
        ) as delivery,
    ):
        server.slow(1)  # acknowledgements come 2 s after the send
        await delivery.send({"id": 1})
        await delivery.send({"id": 2})
        if overflow is Overflow.RAISE:
            with pytest.raises(tether.SendBufferFull, match=r"delivery ledger full \(2 messages\)"):
                await delivery.send({"id": 3})
            assert trio.current_time() == 0
        elif overflow is Overflow.BLOCK:
            await delivery.send({"id": 3}, wait_ack=True)  # room at t=2, its ack at t=4
            assert trio.current_time() == 4
        else:
            async with trio.open_nursery() as nursery:

                async def first() -> None:
                    with pytest.raises(tether.MessageDropped, match="DROP_OLDEST"):
                        await delivery.send({"id": 0}, wait_ack=True)

                await delivery.wait_acknowledged()  # t=2: 1 and 2 acknowledged
                assert trio.current_time() == 2
                server.slow(0)
                app.hold = True
                nursery.start_soon(first)
                await trio.testing.wait_all_tasks_blocked()  # 0 is written first
                await delivery.send({"id": 4})
                await delivery.send({"id": 5})  # evicts 0: written, unacknowledged
            dropped = log.of(events.UnacknowledgedDropped)
            assert [(e.count, str(e)) for e in dropped] == [
                (1, "1 unacknowledged message(s) dropped: no longer resent")
            ]
            assert delivery.statistics().unacknowledged == 2


async def test_a_cancelled_send_withdraws_a_queued_message(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = AckServer()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=ACKED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
        trio.open_nursery() as nursery,
    ):
        server.go_down()
        nursery.start_soon(delivery.send, {"id": "handed"})  # the session holds it
        await trio.sleep(0.1)
        with trio.move_on_after(0.1):
            await delivery.send({"id": "queued"})  # still in the ledger: withdrawn
        await trio.sleep(0.1)
        server.come_back()
        await delivery.wait_acknowledged()
    assert [m["id"] for m in app.delivered] == ["handed"]


async def test_an_error_in_the_body_is_raised_as_it_is(autojump_clock: trio.abc.Clock) -> None:
    app = AckServer()
    async with memory_server(app.handler) as server:
        with pytest.raises(ZeroDivisionError):
            async with delivery_connect(
                URL, dialect=ACKED, codec=JsonCodec(), config=FAST, opener=server.opener
            ) as delivery:
                await delivery.send({"id": 1}, wait_ack=True)
                _ = 1 / 0
        await trio.sleep(1)
        assert server.connections[0].close_code == 1011
        with pytest.raises(tether.SessionClosed):
            await delivery.send({"id": 2})
