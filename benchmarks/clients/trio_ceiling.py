"""Client: the Trio ceiling, the least a Trio WebSocket client can do per message.

One ``trio.SocketStream``; the upgrade written by hand and its answer skipped up to the
blank line, unchecked; frames encoded with a zero mask key (RFC 6455 section 5.3 lets
the key be any value: with zero the payload goes out as it is), parsed with no
validation (no UTF-8 check, no control frames expected, no limits); no pings, no
reconnection, no buffers but the socket's. Nothing a real client should ship: it is
the distance to this that measures a client's own per-message cost.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio

from clients._common import main
from clients._drivers import Link, benches, trio_both

_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
_ZERO_MASK = b"\x00\x00\x00\x00"


def _frame(opcode: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return header + _ZERO_MASK + payload


class _Connection:
    def __init__(self, stream: trio.SocketStream, leftover: bytes) -> None:
        self._stream = stream
        self._buffer = bytearray(leftover)

    async def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                raise EOFError("the server closed the stream")
            self._buffer += chunk

    async def receive(self) -> bytes:
        await self._fill(2)
        size = self._buffer[1] & 0x7F
        start = 2
        if size == 126:
            await self._fill(4)
            size = int.from_bytes(self._buffer[2:4], "big")
            start = 4
        elif size == 127:
            await self._fill(10)
            size = int.from_bytes(self._buffer[2:10], "big")
            start = 10
        await self._fill(start + size)
        payload = bytes(self._buffer[start : start + size])
        del self._buffer[: start + size]
        return payload

    async def receive_text(self) -> str:
        return (await self.receive()).decode()

    async def send_text(self, text: str) -> None:
        await self._stream.send_all(_frame(0x1, text.encode()))

    async def send_binary(self, data: bytes) -> None:
        await self._stream.send_all(_frame(0x2, data))


@asynccontextmanager
async def open_link(url: str) -> AsyncIterator[Link]:
    parts = urlsplit(url)
    stream = await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 80)
    try:
        await stream.send_all(
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {_KEY.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise EOFError("the server closed the stream during the upgrade")
            answer += chunk
        connection = _Connection(stream, answer.split(b"\r\n\r\n", 1)[1])
        yield Link(
            send_text=connection.send_text,
            send_binary=connection.send_binary,
            receive_text=connection.receive_text,
            receive_binary=connection.receive,
        )
    finally:
        await trio.aclose_forcefully(stream)


if __name__ == "__main__":
    main(benches(open_link, trio_both), "trio")
