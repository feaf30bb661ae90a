"""The generic JSON dialect (issue 13, item 8, first half) and its server in
``tether.testing`` (:class:`JsonDialectServer`): ids and acknowledgements, sequence
numbers, resume with the last number; then both directions exactly once and in order
under faults, a fault plan of one virtual hour included."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio

from tether import Config, JsonCodec
from tether.delivery import Delivery, json_dialect
from tether.delivery import connect as delivery_connect
from tether.testing import Close, Drop, FaultPlan, JsonDialectServer, Restart, Stall, memory_server

from .test_outbound import FAST, URL

JSON = json_dialect()

# ------------------------------------------------------------------ the dialect alone


def test_the_json_dialect_reads_ids_acks_sequence_numbers_and_replies() -> None:
    assert JSON.message_id({"id": "a", "x": 1}) == "a"
    assert JSON.message_id({"id": 7}) == 7
    for no_id in ({"id": True}, {"id": None}, {"id": [1]}, {"x": 1}, [1], "id", 5):
        assert JSON.message_id(no_id) is None
    assert list(JSON.acknowledged({"ack": [1, "b", None, False]})) == [1, "b"]
    assert list(JSON.acknowledged({"ack": 1})) == []
    assert JSON.control({"ack": [1]}) and not JSON.control({"ack": [1], "seq": 4})
    assert not JSON.control({"seq": 1}) and not JSON.control(["ack"])
    assert JSON.sequence({"seq": 3}) == 3
    assert JSON.sequence({"seq": True}) is None and JSON.sequence({"seq": "3"}) is None
    assert JSON.resume(None) == {"resume": None} and JSON.resume(41) == {"resume": 41}
    assert JSON.reply_to({"reply_to": 9, "seq": 2}) == 9 and JSON.reply_to({"x": 1}) is None
    assert JSON.client_ack({"seq": 1}) is None


def test_the_keys_can_be_renamed() -> None:
    dialect = json_dialect(id="mid", ack="acks", seq="n", resume="from", reply_to="re")
    assert dialect.message_id({"mid": 1, "id": 2}) == 1
    assert list(dialect.acknowledged({"acks": [1]})) == [1]
    assert dialect.sequence({"n": 5, "seq": 6}) == 5
    assert dialect.resume(3) == {"from": 3}
    assert dialect.reply_to({"re": "q"}) == "q"


# ------------------------------------------------------------------ against the server


async def test_lost_acknowledgements_and_missed_messages_are_made_good_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = JsonDialectServer()
    got: list[Any] = []
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=JSON, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
        trio.open_nursery() as nursery,
    ):

        async def consume() -> None:
            async for message in delivery:
                got.append(message)

        nursery.start_soon(consume)
        await app.publish({"n": 1})
        app.hold_acks = True
        for n in range(3):
            await delivery.send({"id": n})
        await app.wait_received(3)
        server.go_down()  # t=0: unacknowledged, and the next two published are missed
        await app.publish({"n": 2})
        await app.publish({"n": 3})
        app.hold_acks = False
        await trio.sleep(0.5)
        server.come_back()  # attempt 2 at t=1
        await delivery.wait_acknowledged()
        assert trio.current_time() == 1
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert [m["id"] for m in app.received] == [0, 1, 2]
    assert app.duplicates == 3
    assert app.resumes == [None, 1]
    assert got == [{"n": 1, "seq": 1}, {"n": 2, "seq": 2}, {"n": 3, "seq": 3}]


async def test_a_request_is_answered_by_a_numbered_reply(autojump_clock: trio.abc.Clock) -> None:
    app = JsonDialectServer(respond=lambda m: {"sum": sum(m["add"])})
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL, dialect=JSON, codec=JsonCodec(), config=FAST, opener=server.opener
        ) as delivery,
    ):
        assert await delivery.request({"id": "r1", "add": [1, 2]}) == {
            "sum": 3,
            "reply_to": "r1",
            "seq": 1,
        }
        assert delivery.last_sequence == 1


# ------------------------------------------------------------------ under a fault plan


async def _run_both_ways(
    plan: FaultPlan, duration: float, config: Config
) -> tuple[JsonDialectServer, list[int], Delivery, Any]:
    """Both sides send a numbered message every second for ``duration`` seconds while
    ``plan`` runs; then wait until everything is acknowledged and delivered."""
    app = JsonDialectServer()
    got: list[int] = []
    count = math.floor(duration)
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=JSON,
            codec=JsonCodec(),
            config=config,
            opener=server.opener,
            max_unacknowledged=100_000,
        ) as delivery,
    ):

        async def client_sends() -> None:
            for n in range(count):
                await delivery.send({"id": n})
                await trio.sleep_until(start + n + 1)

        async def server_sends() -> None:
            for n in range(count):
                await app.publish({"n": n})
                await trio.sleep_until(start + n + 1)

        async def consume() -> None:
            while len(got) < count:
                got.append((await delivery.receive())["n"])

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.run_plan, plan)
            nursery.start_soon(client_sends)
            nursery.start_soon(server_sends)
            nursery.start_soon(consume)
        await delivery.wait_acknowledged()
        stats = delivery.statistics()
    return app, got, delivery, stats


async def test_both_directions_exactly_once_and_in_order_through_drops_stalls_and_restarts(
    autojump_clock: trio.abc.Clock,
) -> None:
    plan = FaultPlan.random(1, duration=600, mean_interval=30, kinds=(Drop, Close, Stall, Restart))
    app, got, _, stats = await _run_both_ways(plan, 600, FAST)
    assert len(plan.faults) >= 10
    assert [m["id"] for m in app.received] == list(range(600))
    assert got == list(range(600))
    assert stats.resent > 0  # the faults did bite: unacknowledged messages were resent


@pytest.mark.parametrize("seed", [2, 3])
async def test_one_hour_soak_with_the_generic_dialect(
    autojump_clock: trio.abc.Clock, seed: int
) -> None:
    """The acceptance soak: one virtual hour of drops, closes, stalls, rejects,
    refusals and restarts (``FaultPlan.random(seed)``, a fault every three minutes on
    average); a message a second each way; everything delivered to the other side's
    application exactly once and in order."""
    plan = FaultPlan.random(seed, duration=3600, mean_interval=180)
    config = Config(ping_interval=5, ping_timeout=5, close_timeout=5)
    app, got, _, stats = await _run_both_ways(plan, 3600, config)
    assert [m["id"] for m in app.received] == list(range(3600))
    assert got == list(range(3600))
    print(
        f"seed {seed}: {len(plan.faults)} faults; resent {stats.resent}, "
        f"server dropped {app.duplicates} duplicates, client dropped "
        f"{stats.duplicates_dropped}, gaps {stats.gaps}"
    )
