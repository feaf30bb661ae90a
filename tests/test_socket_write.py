"""``write_socket``, the write turn's direct write of a plain TCP socket, over real
loopback sockets: whole frames in order however the kernel takes them, and the errors
``SocketStream.send_all`` raises; and ``Session.send()`` through it, still a checkpoint
that writes nothing when cancelled before its turn."""

from __future__ import annotations

import contextlib
import socket

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import tether
from tether.connection._socket_read import write_socket

pytestmark = pytest.mark.loopback


async def stream_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    left, right = trio.socket.socketpair()
    return trio.SocketStream(left), trio.SocketStream(right)


async def receive_exactly(stream: trio.SocketStream, size: int) -> bytes:
    received = bytearray()
    while len(received) < size:
        chunk = await stream.receive_some(size - len(received))
        assert chunk, "the stream ended early"
        received += chunk
    return bytes(received)


async def test_parts_the_kernel_takes_whole_are_written_in_order() -> None:
    ours, theirs = await stream_pair()
    async with ours, theirs:
        await write_socket(ours, (b"\x81\x85", b"head", bytearray(b"er")))
        assert await receive_exactly(theirs, 8) == b"\x81\x85header"


async def test_what_the_kernel_cannot_take_goes_out_once_the_peer_reads() -> None:
    ours, theirs = await stream_pair()
    ours.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    big = bytes(range(256)) * 16_384  # 4 MiB: far past both socket buffers
    tail = b"after"
    received = bytearray()
    async with ours, theirs, trio.open_nursery() as nursery:

        async def read_all() -> None:
            received.extend(await receive_exactly(theirs, len(big) + len(tail)))

        nursery.start_soon(read_all)
        with trio.fail_after(30):
            await write_socket(ours, (big, tail))
    assert bytes(received) == big + tail


async def test_a_peer_that_is_gone_is_a_broken_resource() -> None:
    ours, theirs = await stream_pair()
    await theirs.aclose()
    with pytest.raises(trio.BrokenResourceError):
        for _ in range(100):  # the first write may still be taken by the kernel
            await write_socket(ours, (b"x" * 65536,))
    await ours.aclose()


async def test_a_closed_socket_is_a_closed_resource_and_writes_nothing() -> None:
    ours, theirs = await stream_pair()
    await ours.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await write_socket(ours, (b"never",))
    with trio.fail_after(5):
        assert await theirs.receive_some(10) == b""  # end of stream, no bytes
    await theirs.aclose()


async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.send_message(await ws.get_message())


async def test_a_send_is_a_checkpoint_and_a_cancelled_one_writes_nothing(
    nursery: trio.Nursery,
) -> None:
    server = await nursery.start(serve_websocket, echo, "127.0.0.1", 0, None)
    url = f"ws://127.0.0.1:{server.port}/"
    config = tether.Config(ping_interval=None)
    with trio.fail_after(10):
        async with tether.connect(url, config=config, proxy=None) as session:
            with trio.testing.assert_checkpoints():
                await session.send("first")
            with trio.CancelScope() as scope:
                scope.cancel()
                await session.send("cancelled")
            assert scope.cancelled_caught
            await session.send("last")
            assert [await session.receive(), await session.receive()] == ["first", "last"]
