"""The ``tether.protocol`` logger (src/tether/connection/_protocol_log.py): the
handshake and every frame at DEBUG, over a real loopback session, with the generation
in each record, no header value and no payload unless the payload logger is on."""

from __future__ import annotations

import logging

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import tether
from tether import Config
from tether.connection._protocol_log import FrameScanner, protocol_log

pytestmark = pytest.mark.loopback

CONFIG = Config(ping_interval=None, connect_timeout=5, close_timeout=2)
REQUEST_HEADERS = (
    "Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version, "
    "Sec-WebSocket-Extensions, Cookie, Authorization, User-Agent"
)


async def _echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except ConnectionClosed:
        pass


def _records(caplog: pytest.LogCaptureFixture, name: str) -> list[tuple[str, int, str]]:
    return [
        (r.levelname, r.generation, r.getMessage())  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == name
    ]


async def _session(port: int, *, text: str) -> None:
    url = f"ws://alice:s3cr3t@127.0.0.1:{port}/feed?token=s3cr3t&room=1"
    async with tether.connect(
        url, config=CONFIG, headers={"Cookie": "sid=s3cr3t"}, proxy=None
    ) as session:
        await session.send(text)
        assert await session.receive() == text
        session.reconnect("rotate")
        await session.wait_connected()
        await session.send(b"\x01\x02")
        assert await session.receive() == b"\x01\x02"


async def test_a_loopback_session_logs_handshakes_and_frames_per_generation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tether.protocol")
    async with trio.open_nursery() as nursery:
        listener = await nursery.start(serve_websocket, _echo, "127.0.0.1", 0, None)
        await _session(listener.port, text="hello")
        nursery.cancel_scope.cancel()
    records = _records(caplog, "tether.protocol")
    request = f"> GET /feed?token=***&room=1 HTTP/1.1; headers: {REQUEST_HEADERS}"
    # The 101's header names are the server's (trio-websocket, via wsproto and h11).
    response = records[1][2]
    assert response.startswith("< HTTP/1.1 101; headers: ")
    assert "sec-websocket-accept" in response.lower()
    assert records == [
        ("DEBUG", 1, request),
        ("DEBUG", 1, response),
        ("DEBUG", 1, "> TEXT length=5 fin=1 rsv=000"),
        ("DEBUG", 1, "< TEXT length=5 fin=1 rsv=000"),
        ("DEBUG", 1, "> CLOSE length=8 fin=1 rsv=000"),  # code 1000 + "rotate"
        ("DEBUG", 1, "< CLOSE length=8 fin=1 rsv=000"),
        ("DEBUG", 2, request),
        ("DEBUG", 2, response),
        ("DEBUG", 2, "> BINARY length=2 fin=1 rsv=000"),
        ("DEBUG", 2, "< BINARY length=2 fin=1 rsv=000"),
        ("DEBUG", 2, "> CLOSE length=2 fin=1 rsv=000"),
        ("DEBUG", 2, "< CLOSE length=2 fin=1 rsv=000"),
    ]
    assert "s3cr3t" not in caplog.text
    assert "hello" not in caplog.text  # no payload unless asked
    assert _records(caplog, "tether.protocol.payloads") == []


async def test_the_payload_logger_is_opt_in_and_cuts_payloads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tether.protocol")
    caplog.set_level(logging.DEBUG, logger="tether.protocol.payloads")
    text = "x" * 100
    async with trio.open_nursery() as nursery:
        listener = await nursery.start(serve_websocket, _echo, "127.0.0.1", 0, None)
        await _session(listener.port, text=text)
        nursery.cancel_scope.cancel()
    payloads = _records(caplog, "tether.protocol.payloads")
    shown = repr(b"x" * 75) + "..."
    assert payloads[:2] == [("DEBUG", 1, f"> {shown}"), ("DEBUG", 1, f"< {shown}")]
    assert ("DEBUG", 2, "> b'\\x01\\x02'") in payloads


def test_disabled_means_no_log_object(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tether.protocol")
    assert protocol_log(1) is None
    caplog.set_level(logging.DEBUG, logger="tether.protocol")
    assert protocol_log(1) is not None


def test_the_scanner_finds_frames_split_across_pieces() -> None:
    # An unmasked 300-byte binary frame (16-bit length), then a masked ping, fed in
    # three pieces that cut the header and the payload.
    big = bytes([0x82, 126]) + (300).to_bytes(2, "big") + b"a" * 300
    ping = bytes([0x89, 0x80 | 2]) + b"\x01\x02\x03\x04" + bytes([ord("h") ^ 1, ord("i") ^ 2])
    stream = big + ping + bytes([0x01, 3]) + b"abc"  # a TEXT frame without FIN
    scanner = FrameScanner(keep=4)
    found = scanner.feed(stream[:3]) + scanner.feed(stream[3:200]) + scanner.feed(stream[200:])
    assert found == [
        (2, True, 0, 300, b"aaaa"),  # header completed in the second piece
        (9, True, 0, 2, b"hi"),
        (1, False, 0, 3, b"abc"),
    ]


def test_the_scanner_reads_64_bit_lengths_and_masks_cut_anywhere() -> None:
    # A masked 70000-byte binary frame: 64-bit length (RFC 6455 section 5.2), its
    # 14-byte header fed one byte at a time, then the rest at once.
    mask = b"\x0f\x0f\x0f\x0f"
    frame = bytes([0x82, 0x80 | 127]) + (70_000).to_bytes(8, "big") + mask
    frame += bytes(b ^ 0x0F for b in b"abc" * 23_333 + b"a")
    scanner = FrameScanner(keep=3)
    for at in range(13):
        assert scanner.feed(frame[at : at + 1]) == [], at  # no header before its end
    # The header's last byte and two of the payload: what is there of it is kept.
    assert scanner.feed(frame[13:16]) == [(2, True, 0, 70_000, b"ab")]
    # The rest of the payload is skipped, then an empty Pong.
    assert scanner.feed(frame[16:] + bytes([0x8A, 0])) == [(10, True, 0, 0, b"")]


async def test_a_refused_handshake_logs_its_status_and_header_names(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refuse(request: WebSocketRequest) -> None:
        await request.reject(403, extra_headers=[(b"X-Why", b"s3cr3t-reason")], body=b"no")

    caplog.set_level(logging.DEBUG, logger="tether.protocol")
    config = Config(ping_interval=None, connect_timeout=5, max_attempts=1)
    async with trio.open_nursery() as nursery:
        listener = await nursery.start(serve_websocket, refuse, "127.0.0.1", 0, None)
        with pytest.raises(tether.HandshakeRejected):
            async with tether.connect(f"ws://127.0.0.1:{listener.port}/", config=config):
                pass
        nursery.cancel_scope.cancel()
    [request, response] = _records(caplog, "tether.protocol")
    assert request[2].startswith("> GET / HTTP/1.1; headers: Host,")
    assert response[:2] == ("DEBUG", 1)
    assert response[2].startswith("< HTTP/1.1 403; headers: ")
    assert "x-why" in response[2].lower() and "s3cr3t" not in caplog.text
