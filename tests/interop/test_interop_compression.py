"""permessage-deflate (RFC 7692) against servers we did not write: Python ``websockets``
and Node ``ws`` (``perMessageDeflate`` on), with and without context takeover. The
messages come back whole, and ``statistics()`` shows both directions compressed."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import AsyncIterator

import pytest
import trio

import tether
from tether import Config

from .conftest import NODE_SERVER, WEBSOCKETS_SERVER, SubprocessServer, node_skip_reason

pytestmark = [pytest.mark.interop, pytest.mark.loopback]

CONFIG = Config(ping_interval=None, connect_timeout=10, close_timeout=5)
MESSAGES = [
    json.dumps(
        {
            "stream": "btcusdt@trade",
            "data": {
                "e": "trade",
                "s": "BTCUSDT",
                "t": 1000 + i,
                "p": f"{42000 + i * 0.25:.2f}",
                "q": "0.00100000",
                "m": i % 2 == 0,
            },
        }
    )
    for i in range(200)
]


@pytest.fixture(
    params=[
        ("websockets", "on"),
        ("websockets", "no-context-takeover"),
        ("node-ws", "on"),
        ("node-ws", "no-context-takeover"),
    ],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
async def deflate_server(request: pytest.FixtureRequest) -> AsyncIterator[SubprocessServer]:
    kind, mode = request.param
    if kind == "node-ws":
        if (reason := node_skip_reason()) is not None:
            pytest.skip(reason)
        node = shutil.which("node")
        assert node is not None
        argv = [node, str(NODE_SERVER)]
    else:
        argv = [sys.executable, str(WEBSOCKETS_SERVER)]
    server = SubprocessServer(kind, [*argv, "--compression", mode])
    await server.start()
    try:
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await server.stop()


async def test_compressed_both_ways_and_echoed_whole(deflate_server: SubprocessServer) -> None:
    large = "x" * 300_000 + "é" * 1000
    with trio.fail_after(30):
        async with tether.connect(deflate_server.url, config=CONFIG) as session:
            for message in MESSAGES:
                await session.send(message)
            for message in MESSAGES:
                assert await session.receive() == message
            await session.send(large)
            assert await session.receive() == large
            await session.send(b"\x01\x02" * 40_000)
            assert await session.receive() == b"\x01\x02" * 40_000
            stats = session.statistics()
    assert stats.bytes_sent * 4 < stats.bytes_sent_uncompressed
    assert stats.bytes_received * 4 < stats.bytes_received_uncompressed
    assert stats.lost == {}


async def test_compression_off_offers_nothing_and_the_server_sends_uncompressed(
    deflate_server: SubprocessServer,
) -> None:
    config = Config(ping_interval=None, compression=None)
    with trio.fail_after(30):
        async with tether.connect(deflate_server.url, config=config) as session:
            for message in MESSAGES[:20]:
                await session.send(message)
            for message in MESSAGES[:20]:
                assert await session.receive() == message
            stats = session.statistics()
    assert stats.bytes_sent == stats.bytes_sent_uncompressed
    assert stats.bytes_received == stats.bytes_received_uncompressed
