"""``tether.testing.serve_websocket`` over real loopback sockets: a handler's requests,
the close after the handler, and a client Ping that crosses the server's Close frame
(trio-websocket's own server answers it with a Pong, which wsproto refuses in
LOCAL_CLOSING: the server's nursery crashed; RFC 6455 section 5.5.1 says nothing
follows a Close)."""

from __future__ import annotations

import pytest
import trio
from trio_websocket import WebSocketRequest

import tether
from tether.protocol import OPCODE_CLOSE, OPCODE_PING, close_payload, encode_control
from tether.testing import serve_websocket

pytestmark = pytest.mark.loopback

UPGRADE = (
    b"GET /close HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def read_until(stream: trio.SocketStream, marker: bytes, buffer: bytearray) -> bytes:
    while marker not in buffer:
        chunk = await stream.receive_some(4096)
        assert chunk, f"the stream ended before {marker!r}"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(marker)
    buffer[:] = rest
    return head


async def test_a_ping_crossing_the_servers_close_gets_no_pong_and_the_server_lives(
    nursery: trio.Nursery,
) -> None:
    handled: list[str] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        handled.append(request.path)
        if request.path == "/close":
            await ws.aclose(1001, "going away")
        else:
            await ws.send_message(await ws.get_message())

    port = await nursery.start(serve_websocket, handler)
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        buffer = bytearray()
        await stream.send_all(UPGRADE)
        assert (await read_until(stream, b"\r\n\r\n", buffer)).startswith(b"HTTP/1.1 101")
        # The server's Close (unmasked: 0x88, length, code 1001, reason).
        while len(buffer) < 2:
            buffer += await stream.receive_some(4096)
        assert buffer[0] == 0x88
        # Our Ping now crosses it, then our answering Close.
        await stream.send_all(encode_control(OPCODE_PING, b"late"))
        await stream.send_all(encode_control(OPCODE_CLOSE, close_payload(1001, "")))
        rest = bytearray(buffer)
        while chunk := await stream.receive_some(4096):
            rest += chunk
        await stream.aclose()
    frame_length = 2 + (rest[1] & 0x7F)
    assert rest[frame_length:] == b""  # nothing after the server's Close: no Pong
    # The same server still serves: a tether session echoes through it.
    config = tether.Config(ping_interval=None)
    with trio.fail_after(10):
        async with tether.connect(f"ws://127.0.0.1:{port}/echo", config=config, proxy=None) as s:
            await s.send("hello")
            assert await s.receive() == "hello"
    assert handled == ["/close", "/echo"]
