"""Make-before-break rotation under the generic JSON dialect (issue 13 acceptance): a
stream of 100 messages/s each way over 10 rotations shows no gap longer than two
message intervals, nothing lost, nothing duplicated to either application.

The memory server delays every chunk by ``LATENCY`` each way (so a handshake takes
``2 * LATENCY``, six message intervals): a rotation that broke before it made would show
a gap of at least that, and the ``reconnect()`` contrast below shows one. The server's
resume replays what the new connection's client missed; what also arrives on the old
connection is a duplicate the delivery layer drops."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing

from tether import Backoff, Config, JsonCodec, events
from tether.delivery import connect as delivery_connect
from tether.delivery import json_dialect
from tether.testing import JsonDialectServer, memory_server

from ..helpers import EventLog

URL = "ws://tether.test/"
LATENCY = 0.03
INTERVAL = 0.01  # 100 messages/s
COUNT = 1000  # 10 s each way


async def _stream_both_ways(config: Config, replace: str) -> dict[str, Any]:
    """Both applications send a message every INTERVAL for COUNT messages while the
    connection is replaced ten times (``replace``: ``"rotate"`` calls
    ``Session.rotate()`` every 0.9 s, ``"age"`` leaves it to the config,
    ``"reconnect"`` calls ``Session.reconnect()``); returns what each side's
    application got, and when."""
    server_got: list[tuple[float, int]] = []

    def record(message: dict[str, Any]) -> None:
        server_got.append((trio.current_time(), message["id"]))

    app = JsonDialectServer(respond=lambda m: record(m))
    client_got: list[tuple[float, int]] = []
    log = EventLog()
    async with (
        memory_server(app.handler) as server,
        delivery_connect(
            URL,
            dialect=json_dialect(),
            codec=JsonCodec(),
            config=config,
            opener=server.opener,
            on_event=log,
        ) as delivery,
    ):
        server.slow(LATENCY)
        await trio.sleep(1)  # past the first connection's opening
        start = trio.current_time()

        async def client_sends() -> None:
            for n in range(COUNT):
                await delivery.send({"id": n})
                await trio.sleep_until(start + (n + 1) * INTERVAL)

        async def server_sends() -> None:
            for n in range(COUNT):
                await app.publish({"n": n})
                await trio.sleep_until(start + (n + 1) * INTERVAL)

        async def consume() -> None:
            while len(client_got) < COUNT:
                message = await delivery.receive()
                client_got.append((trio.current_time(), message["n"]))

        async def replace_ten_times() -> None:
            for _ in range(10):
                await trio.sleep(0.9)
                if replace == "rotate":
                    await delivery.session.rotate()
                elif replace == "reconnect":
                    delivery.session.reconnect()
                    await delivery.session.wait_connected()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(client_sends)
            nursery.start_soon(server_sends)
            nursery.start_soon(consume)
            if replace != "age":
                nursery.start_soon(replace_ten_times)
        with trio.fail_after(10):
            await delivery.wait_acknowledged()
        stats = delivery.statistics()
    return {
        "app": app,
        "server_got": server_got,
        "client_got": client_got,
        "stats": stats,
        "log": log,
        "connections": len(server.connections),
    }


def _longest_gap(timed: list[tuple[float, int]]) -> float:
    times = [at for at, _ in timed]
    return max(b - a for a, b in itertools.pairwise(times))


@pytest.mark.parametrize("replace", ["rotate", "age"])
async def test_ten_rotations_of_a_100_per_second_stream_lose_nothing_and_pause_nothing(
    autojump_clock: trio.abc.Clock, replace: str
) -> None:
    config = Config(
        ping_interval=None,
        max_connection_age=0.9 if replace == "age" else None,
    )
    with trio.fail_after(120):
        result = await _stream_both_ways(config, replace)
    log: EventLog = result["log"]
    assert len(log.of(events.Rotated)) >= 10
    assert log.of(events.ConnectionLost) == []
    assert log.of(events.SequenceGap) == []
    # Nothing lost, nothing duplicated, in order, to both applications.
    assert [n for _, n in result["client_got"]] == list(range(COUNT))
    assert [n for _, n in result["server_got"]] == list(range(COUNT))
    assert [m["id"] for m in result["app"].received] == list(range(COUNT))
    # No pause longer than two message intervals on either side.
    assert _longest_gap(result["client_got"]) <= 2 * INTERVAL + 1e-9
    assert _longest_gap(result["server_got"]) <= 2 * INTERVAL + 1e-9
    stats = result["stats"]
    print(
        f"{replace}: {len(log.of(events.Rotated))} rotations; resent {stats.resent}, "
        f"server dropped {result['app'].duplicates} duplicates, client dropped "
        f"{stats.duplicates_dropped}; longest gaps client "
        f"{_longest_gap(result['client_got']) * 1000:.0f} ms, server "
        f"{_longest_gap(result['server_got']) * 1000:.0f} ms"
    )


async def test_the_same_stream_through_reconnects_pauses_longer(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The contrast that shows the measurement can fail: break-before-make
    (``reconnect()``) loses nothing either, but pauses both streams for at least the
    new connection's handshake (``2 * LATENCY``)."""
    config = Config(ping_interval=None, backoff=Backoff(jitter=False))
    with trio.fail_after(120):
        result = await _stream_both_ways(config, "reconnect")
    assert [n for _, n in result["client_got"]] == list(range(COUNT))
    assert [n for _, n in result["server_got"]] == list(range(COUNT))
    assert _longest_gap(result["client_got"]) >= 2 * LATENCY
    assert _longest_gap(result["server_got"]) >= 2 * LATENCY
