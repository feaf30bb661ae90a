"""A session with permessage-deflate agreed (RFC 7692), against wsproto's server side
(an independent implementation of the extension) over an in-memory stream: messages
both ways are compressed and come back whole, and ``statistics()`` counts the bytes on
the wire and uncompressed."""

from __future__ import annotations

import json

import trio
import trio.testing
import wsproto
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

import tether

URL = "ws://127.0.0.1:9/"


def echo_opener(nursery: trio.Nursery, seen: list[Request]):  # type: ignore[no-untyped-def]
    async def serve(stream: trio.testing.MemoryStream) -> None:  # type: ignore[name-defined]
        server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            server.receive_data(data)
            out = b""
            for event in server.events():
                if isinstance(event, Request):
                    seen.append(event)
                    out += server.send(AcceptConnection(extensions=[PerMessageDeflate()]))
                elif isinstance(event, (TextMessage, BytesMessage)):
                    out += server.send(type(event)(data=event.data))
                elif isinstance(event, CloseConnection):
                    out += server.send(event.response())
            if out:
                await stream.send_all(out)

    async def opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
        client, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(serve, server_end)
        return client

    return opener


MESSAGES = [
    json.dumps({"e": "trade", "s": "BTCUSDT", "p": f"{42000 + i * 0.5:.2f}", "q": "0.01", "i": i})
    for i in range(50)
]


async def test_messages_are_compressed_both_ways_and_counted(nursery: trio.Nursery) -> None:
    seen: list[Request] = []
    async with tether.connect(URL, opener=echo_opener(nursery, seen)) as session:
        for message in MESSAGES:
            await session.send(message)
        for message in [*MESSAGES]:
            assert await session.receive() == message
        await session.send(b"\x00" * 100_000)
        assert await session.receive() == b"\x00" * 100_000
        stats = session.statistics()
    assert seen[0].extensions == ["permessage-deflate; client_max_window_bits"]
    assert stats.bytes_sent < stats.bytes_sent_uncompressed / 3
    assert stats.bytes_received < stats.bytes_received_uncompressed / 3
    uncompressed_payload = sum(len(m) for m in MESSAGES) + 100_000
    # Frame headers are the wire's: 6 bytes per client frame (masked), the 100 kB of zeros
    # included, since they deflate to under 126 bytes.
    assert stats.bytes_sent_uncompressed == uncompressed_payload + 51 * 6
    assert stats.bytes_received_uncompressed >= uncompressed_payload + 51 * 2


async def test_without_compression_nothing_is_offered_and_wire_equals_uncompressed(
    nursery: trio.Nursery,
) -> None:
    seen: list[Request] = []
    config = tether.Config(compression=None)
    async with tether.connect(URL, config=config, opener=echo_opener(nursery, seen)) as session:
        for message in MESSAGES:
            await session.send(message)
        for message in MESSAGES:
            assert await session.receive() == message
        stats = session.statistics()
    assert seen[0].extensions == []
    assert stats.bytes_sent == stats.bytes_sent_uncompressed == sum(map(len, MESSAGES)) + 50 * 6
    assert stats.bytes_received == stats.bytes_received_uncompressed
    assert stats.bytes_received == sum(map(len, MESSAGES)) + 50 * 2
