"""Inbound exactly-once to the application (issue 13, item 2): the server numbers its
messages; the resume step names the last number seen; replays (duplicates) are
dropped, a gap is a ``SequenceGap`` event, and client acknowledgements the dialect asks
for are sent. Virtual clock, memory server, exact times."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trio
import trio_websocket

from tether import JsonCodec, events
from tether.delivery import Dialect
from tether.delivery import connect as delivery_connect
from tether.testing import ServerConnection, memory_server

from ..helpers import EventLog
from .test_outbound import FAST, URL

SEQUENCED = Dialect(
    sequence=lambda m: m.get("seq"),
    resume=lambda last: {"resume": last},
    client_ack=lambda m: {"envelope_id": m["envelope_id"]} if "envelope_id" in m else None,
)


class NumberingServer:
    """Numbers what it publishes (1, 2, ...), keeps all of it, and on a connection's
    first message ``{"resume": last}`` replays what came after ``last`` (all of it
    with ``replay_all``: a server that replays too much). ``acks`` records the
    client's envelope acknowledgements."""

    def __init__(self) -> None:
        self.log: list[tuple[int, str]] = []
        self.conn: ServerConnection | None = None
        self.replay_all = False
        self.acks: list[Any] = []
        self.resumes: list[Any] = []
        self._lock = trio.Lock()

    async def handler(self, conn: ServerConnection) -> None:
        resume = json.loads(await conn.get_message())
        self.resumes.append(resume["resume"])
        last = 0 if self.replay_all or resume["resume"] is None else resume["resume"]
        async with self._lock:
            for number, text in self.log:
                if number > last:
                    await conn.send_message(text)
            self.conn = conn
        while True:
            message = json.loads(await conn.get_message())
            if "envelope_id" in message:
                self.acks.append(message["envelope_id"])

    async def publish(self, body: dict[str, Any], *, skip: int = 0) -> None:
        async with self._lock:
            number = (self.log[-1][0] if self.log else 0) + 1 + skip
            text = json.dumps({**body, "seq": number})
            self.log.append((number, text))
            if self.conn is not None:
                try:
                    await self.conn.send_message(text)
                except trio_websocket.ConnectionClosed:
                    self.conn = None


async def test_what_was_missed_is_replayed_after_the_resume_and_duplicates_dropped(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = NumberingServer()
    received: list[tuple[float, Any]] = []
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=SEQUENCED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
        trio.open_nursery() as nursery,
    ):

        async def consume() -> None:
            async for message in delivery:
                received.append((trio.current_time(), message["n"]))

        nursery.start_soon(consume)
        for n in range(1, 4):
            await app.publish({"n": n})
        await trio.sleep(1)
        server.go_down()  # t=1: gone; attempt 2 at t=2 (attempt 1 refused at once)
        for n in range(4, 7):
            await app.publish({"n": n})  # missed: the server keeps them
        server.come_back()
        await trio.sleep(1.5)  # t=2.5
        app.replay_all = True  # the next resume is answered with everything again
        delivery.session.reconnect()
        await trio.sleep(0.5)
        await app.publish({"n": 7})
        await trio.sleep(0.5)
        assert delivery.last_sequence == 7
        stats = delivery.statistics()
        nursery.cancel_scope.cancel()
    assert received == [(0, 1), (0, 2), (0, 3), (2, 4), (2, 5), (2, 6), (3, 7)]
    assert app.resumes == [None, 3, 6]
    assert server.connections[-1].messages[0] == '{"resume":6}'
    assert (stats.duplicates_dropped, stats.gaps, stats.last_sequence) == (6, 0, 7)


async def test_a_gap_is_reported_and_the_message_delivered(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = NumberingServer()
    log = EventLog()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=SEQUENCED,
            codec=JsonCodec(),
            config=FAST,
            opener=server.opener,
            on_event=log,
        ) as delivery,
    ):
        await app.publish({"n": 1})
        await trio.sleep(1)
        await app.publish({"n": 2}, skip=3)  # numbered 5: 2, 3 and 4 never come
        assert (await delivery.receive())["n"] == 1
        assert (await delivery.receive())["n"] == 2
        (gap,) = log.of(events.SequenceGap)
        assert (gap.expected, gap.received, gap.missing, gap.at) == (2, 5, 3, 1)
        assert str(gap) == "sequence gap (generation 1): expected 2, got 5 (3 missing)"
        assert delivery.statistics().missing == 3


async def test_a_kept_last_sequence_resumes_a_later_process(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = NumberingServer()
    for n in range(1, 6):
        await app.publish({"n": n})
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=SEQUENCED,
            codec=JsonCodec(),
            config=FAST,
            opener=server.opener,
            last_sequence=3,
        ) as delivery,
    ):
        assert [(await delivery.receive())["n"] for _ in range(2)] == [4, 5]
    assert app.resumes == [3]


async def test_client_acknowledgements_are_sent_once_the_application_took_the_message(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = NumberingServer()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=SEQUENCED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        await app.publish({"envelope_id": "e1"})
        await app.publish({"envelope_id": "e2"})
        await trio.sleep(1)
        assert app.acks == []  # the application has not taken them
        assert (await delivery.receive())["envelope_id"] == "e1"
        await trio.sleep(0.1)
        assert app.acks == ["e1"]
        app.replay_all = True
        delivery.session.reconnect()  # e1 and e2 come again, after e2 (taken in)
        await trio.sleep(0.1)
        assert app.acks == ["e1"]  # e2 waits for the application: so do the replays
        assert (await delivery.receive())["envelope_id"] == "e2"
        await trio.sleep(0.1)
        # Then the duplicates: acknowledged again, not delivered again.
        assert app.acks == ["e1", "e2", "e1", "e2"]
        assert delivery.statistics().duplicates_dropped == 2
        with trio.move_on_after(1):
            await delivery.receive()
            pytest.fail("a duplicate reached the application")


async def test_a_gap_is_logged_as_a_warning(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    app = NumberingServer()
    caplog.set_level(logging.INFO, logger="tether")
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=SEQUENCED, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        await app.publish({"n": 1})
        await app.publish({"n": 2}, skip=1)
        await delivery.receive()
        await delivery.receive()
    (record,) = [r for r in caplog.records if "sequence gap" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert getattr(record, "generation", None) == 1
