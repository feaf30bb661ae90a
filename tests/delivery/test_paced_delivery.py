"""Paced sends under the delivery layer (issue 13, item 6): the session's
``Config.send_rate`` covers what the layer writes: the resume message, the
subscriptions and the resent messages (written with ``Connection.send`` in the
``on_connect`` hook), the newer messages and client acknowledgements (through
``Session.send``), and heartbeats. One bucket for all of it, in wire order."""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio

from tether import JsonCodec, Rate
from tether.delivery import connect as delivery_connect
from tether.testing import ServerConnection, memory_server

from .test_outbound import FAST, URL
from .test_subscriptions import FEED


class TimedFeed:
    """As ``test_subscriptions.Feed`` (subscriptions answered, ids acknowledged unless
    ``hold``), recording ``(time, message)`` per connection."""

    def __init__(self) -> None:
        self.hold = False
        self.arrivals: list[list[tuple[float, Any]]] = []

    async def handler(self, conn: ServerConnection) -> None:
        mine: list[tuple[float, Any]] = []
        self.arrivals.append(mine)
        while True:
            message = json.loads(await conn.get_message())
            mine.append((trio.current_time(), message))
            if "id" not in message:
                continue
            if message.get("op") == "subscribe":
                await conn.send_message(json.dumps({"reply_to": message["id"], "ok": True}))
            elif not self.hold:
                await conn.send_message(json.dumps({"ack": [message["id"]]}))


async def test_resume_subscriptions_resends_and_newer_sends_share_one_pace(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = TimedFeed()
    config = attrs.evolve(
        FAST, ping_interval=None, ping_timeout=None, send_rate=Rate(messages=10, per=1.0)
    )
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=FEED, codec=JsonCodec(), config=config, opener=server.opener
        ) as delivery,
    ):
        await delivery.subscribe({"id": "s", "op": "subscribe", "channel": "a"})
        app.hold = True
        for n in range(3):
            await delivery.send({"id": n})  # written, never acknowledged
        await trio.sleep(5)  # t=5.4: the bucket is quiet again
        app.hold = False
        delivery.session.reconnect()
        await delivery.session.wait_connected()
        # The hook wrote resume, the subscription, 0, 1, 2 at 5.4 + k/10 before the open.
        assert trio.current_time() == 5.4 + 4 / 10
        await delivery.send({"id": "new"})
        await delivery.wait_acknowledged()
        first, second = app.arrivals
    assert [t for t, _ in first] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert [m.get("id", m) for _, m in second] == [{"resume": None}, "s", 0, 1, 2, "new"]
    assert [t for t, _ in second] == [5.4 + k / 10 for k in range(6)]
