"""The connection's own socket reads (tether._wsclient._read_socket) on real sockets."""

from __future__ import annotations

import pytest
import trio

from tether._wsclient import _read_socket


async def test_reads_what_is_there_without_waiting_after_a_full_read() -> None:
    left, right = trio.socket.socketpair()
    with left, right:
        await right.send(b"abcdef")
        await trio.testing.wait_all_tasks_blocked()
        assert await _read_socket(left, 4, drained=False) == b"abcd"
        assert await _read_socket(left, 4, drained=False) == b"ef"


async def test_waits_for_data_when_the_socket_is_empty(nursery: trio.Nursery) -> None:
    left, right = trio.socket.socketpair()
    with left, right:
        received: list[bytes] = []
        done = trio.Event()

        async def read() -> None:
            received.append(await _read_socket(left, 100, drained=False))
            done.set()

        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        assert received == []  # EAGAIN was met by waiting, not by returning b""
        await right.send(b"late")
        with trio.fail_after(5):
            await done.wait()
        assert received == [b"late"]


async def test_end_of_stream_is_empty_bytes() -> None:
    left, right = trio.socket.socketpair()
    with left:
        right.close()
        assert await _read_socket(left, 100, drained=True) == b""


async def test_a_closed_socket_is_never_read() -> None:
    """Once closed, its descriptor number may belong to a new socket: refuse, do not read."""
    left, right = trio.socket.socketpair()
    with right:
        left.close()
        with pytest.raises(trio.ClosedResourceError):
            await _read_socket(left, 100, drained=False)


async def test_closing_while_waiting_raises_closed(nursery: trio.Nursery) -> None:
    left, right = trio.socket.socketpair()
    with right:
        raised: list[BaseException] = []
        done = trio.Event()

        async def read() -> None:
            try:
                await _read_socket(left, 100, drained=True)
            except trio.ClosedResourceError as error:
                raised.append(error)
            done.set()

        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        left.close()
        with trio.fail_after(5):
            await done.wait()
        assert len(raised) == 1
