"""``write_socket``, the write turn's direct write of a plain TCP socket, over real
loopback sockets: whole frames in order however the kernel takes them, one scheduling
point, and the errors ``SocketStream.send_all`` raises."""

from __future__ import annotations

import socket

import pytest
import trio

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


async def test_parts_the_kernel_takes_whole_are_written_in_order_with_a_schedule_point() -> None:
    ours, theirs = await stream_pair()
    others_ran: list[bool] = []

    async def other() -> None:
        others_ran.append(True)

    async with ours, theirs, trio.open_nursery() as nursery:
        nursery.start_soon(other)  # runs at this task's next schedule point
        await write_socket(ours, (b"\x81\x85", b"head", bytearray(b"er")))
        assert others_ran == [True]
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
    with trio.move_on_after(0.05):
        assert await theirs.receive_some(10) == b""  # end of stream, no bytes
    await theirs.aclose()
