"""Who decides to retry, and when (docs/design.md, "The retry-or-fail table" and
"Generations"). Times are literal: ``Backoff(initial=1, multiplier=2, jitter=False)``
waits 1, 2, 4 ... s before attempts 2, 3, 4 ... of an outage; an outage starts when a
connection that stayed open ``stable_after`` (5 s) is lost, or at ``reconnect()``."""

from __future__ import annotations

import attrs
import pytest
import trio

import tether
from tether import Backoff, Config, events
from tether.testing import memory_server

from ..helpers import EventLog

URL = "ws://tether.test/"
CONFIG = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=8, jitter=False))


async def test_retry_if_decides_instead_of_the_default_table(
    autojump_clock: trio.abc.Clock,
) -> None:
    # 401 is fatal by default; this policy retries it.
    log = EventLog()
    config = attrs.evolve(CONFIG, retry_if=lambda error: True)
    with trio.fail_after(60):
        async with memory_server() as server:
            server.reject(2, status=401)
            async with tether.connect(URL, config=config, opener=server.opener, on_event=log):
                assert trio.current_time() == 0 + 1 + 2
    assert [e.at for e in log.of(events.Connecting)] == [0, 1, 3]


async def test_retry_if_can_end_the_session_on_an_error_the_table_retries(
    autojump_clock: trio.abc.Clock,
) -> None:
    # A refused connection is retried by default; this policy gives up at once.
    config = attrs.evolve(CONFIG, retry_if=lambda error: False)
    with trio.fail_after(60):
        async with memory_server() as server:
            server.refuse(1)
            with pytest.raises(tether.ReconnectFailed) as raised:
                async with tether.connect(URL, config=config, opener=server.opener):
                    pytest.fail("must not open")
            assert trio.current_time() == 0
            assert server.refused_attempts == 1
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)


async def test_on_connect_is_bounded_by_connect_timeout(autojump_clock: trio.abc.Clock) -> None:
    config = attrs.evolve(CONFIG, connect_timeout=3)
    log = EventLog()
    calls = 0

    async def on_connect(conn: tether.Connection) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await trio.sleep(100)  # the first attempt's on_connect never finishes

    with trio.fail_after(60):
        async with (
            memory_server() as server,
            tether.connect(
                URL, config=config, opener=server.opener, on_connect=on_connect, on_event=log
            ),
        ):
            assert trio.current_time() == 3 + 1  # timed out at 3; attempt 2 waits 1 s
    (backing_off,) = log.of(events.BackingOff)
    assert (backing_off.at, backing_off.attempt, backing_off.delay) == (3, 2, 1.0)
    assert isinstance(backing_off.error, TimeoutError)


async def test_reconnect_starts_a_fresh_outage_for_max_attempts(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = attrs.evolve(CONFIG, max_attempts=3)
    log = EventLog()
    with trio.fail_after(60):
        async with memory_server() as server:
            with pytest.raises(tether.ReconnectFailed, match="3 attempts"):
                async with tether.connect(
                    URL, config=config, opener=server.opener, on_event=log
                ) as session:
                    await trio.sleep(10)
                    server.go_down()  # stable for 10 s: a fresh outage, attempt 1 at once
                    await trio.sleep(2.5)  # refused at 10 and 11; backing off 2 s
                    session.reconnect()  # a fresh outage again: 3 more attempts
                    await session.wait_connected()
            assert trio.current_time() == 12.5 + 1 + 2
    assert [e.at for e in log.of(events.Connecting)] == [0, 10, 11, 12.5, 13.5, 15.5]
    assert log.of(events.GaveUp)[0].at == 15.5


async def test_reconnect_starts_a_fresh_outage_for_give_up_after(
    autojump_clock: trio.abc.Clock,
) -> None:
    config = attrs.evolve(CONFIG, give_up_after=4)
    log = EventLog()
    with trio.fail_after(60):
        async with memory_server() as server:
            with pytest.raises(tether.ReconnectFailed, match="4 s without a connection"):
                async with tether.connect(
                    URL, config=config, opener=server.opener, on_event=log
                ) as session:
                    await trio.sleep(10)
                    server.go_down()
                    await trio.sleep(2.5)
                    session.reconnect()  # the 4 s run from 12.5
                    await session.wait_connected()
            # Attempts at 12.5, 13.5 and 15.5; the next would wait 4 s, cut to the 1 s
            # left, and the attempt at 16.5 is the last.
            assert trio.current_time() == 12.5 + 4
    assert [e.at for e in log.of(events.Connecting)] == [0, 10, 11, 12.5, 13.5, 15.5, 16.5]


async def test_failover_starts_again_at_the_first_url_each_outage(
    autojump_clock: trio.abc.Clock,
) -> None:
    urls = ["ws://primary.test/", "ws://backup.test/", "ws://last-resort.test/"]
    log = EventLog()
    with trio.fail_after(60):
        async with memory_server() as server:
            server.refuse(1)  # the primary refuses once: the first outage ends on the backup
            async with tether.connect(
                urls, config=CONFIG, opener=server.opener, on_event=log
            ) as session:
                await trio.sleep(10)  # open since 1, stable: the loss starts a fresh outage
                server.drop()
                await trio.sleep(0.1)
                await session.wait_connected()
    assert [(e.at, e.url) for e in log.of(events.Connecting)] == [
        (0, "ws://primary.test/"),
        (1, "ws://backup.test/"),
        (11, "ws://primary.test/"),
    ]
    assert [record.host for record in server.connections] == ["backup.test", "primary.test"]
