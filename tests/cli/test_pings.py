"""``tether connect --show-ping`` (tether.cli.connect.pings) in this process: the
server's own pings and our pongs, from the ``tether.protocol`` records of a session on
the in-memory server. Our pings and their pongs in a real terminal:
tests/cli/test_connect_terminal.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import trio

import tether
from tether.cli.connect.pings import show_pings
from tether.testing import ServerConnection, memory_server


@pytest.fixture
def notes() -> Iterator[list[str]]:
    logger = logging.getLogger("tether.protocol")
    level = logger.level
    shown: list[str] = []
    handler = show_pings(shown.append)
    try:
        yield shown
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_the_servers_pings_and_our_pongs_are_shown(
    autojump_clock: trio.abc.Clock, notes: list[str]
) -> None:
    pinged = trio.Event()

    async def pinging(conn: ServerConnection) -> None:
        await conn.ping(b"srv")  # returns once our Pong came
        pinged.set()
        await conn.get_message()

    config = tether.Config(ping_interval=None)
    async with (
        memory_server(pinging) as server,
        tether.connect("ws://pings.test/", config=config, opener=server.opener),
    ):
        await pinged.wait()
    assert notes == [
        "< ping from the server (generation 1)",
        "> pong to the server (generation 1)",
    ]


def test_a_pong_without_a_ping_seen_has_no_round_trip(notes: list[str]) -> None:
    logging.getLogger("tether.protocol").debug(
        "< PONG length=4 fin=1 rsv=000", extra={"generation": 3}
    )
    assert notes == ["< pong (generation 3)"]
