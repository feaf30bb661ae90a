"""tether.session._buffers.SendBuffer on its own: the batch the writer has in flight
is never evicted, batches stop at their message and byte limits, and a message put
back after a failed direct write meets a closed buffer's error. Through a session:
tests/test_session.py (overflow) and tests/guarantees/test_send_path.py."""

from __future__ import annotations

import pytest
import trio

from tether import Overflow, SendBufferFull, SessionClosed
from tether.session._buffers import SendBuffer


def test_drop_oldest_never_evicts_the_batch_in_flight() -> None:
    buffer = SendBuffer(capacity=2, max_bytes=1000, overflow=Overflow.DROP_OLDEST)
    buffer.put_nowait("a")
    buffer.put_nowait("b")
    assert [entry.message for entry in buffer.take_batch(10, 1000)] == ["a", "b"]
    with pytest.raises(SendBufferFull, match=r"^send buffer full \(2 messages, in flight\)$"):
        buffer.put_nowait("c")
    assert (len(buffer), buffer.dropped) == (2, 0)


def test_drop_oldest_evicts_what_is_not_in_flight() -> None:
    buffer = SendBuffer(capacity=3, max_bytes=1000, overflow=Overflow.DROP_OLDEST)
    waiting = trio.Event()
    buffer.put_nowait("a")
    buffer.put_nowait("b", waiting)
    buffer.put_nowait("c")
    [flying] = buffer.take_batch(1, 1000)  # "a" in flight
    assert buffer.put_nowait("d") == 1  # "b", the oldest not in flight
    assert waiting.is_set() and buffer.dropped == 1
    buffer.unwritten([flying])  # its write failed: "a" stays at the head
    assert [entry.message for entry in buffer.take_batch(10, 1000)] == ["a", "c", "d"]


def test_a_batch_stops_at_its_message_or_byte_limit_but_takes_one_at_least() -> None:
    buffer = SendBuffer(capacity=10, max_bytes=1000, overflow=Overflow.BLOCK)
    for message in ("aaaa", "bb", "cc", "d"):
        buffer.put_nowait(message)
    assert [e.message for e in buffer.take_batch(2, 1000)] == ["aaaa", "bb"]
    buffer.unwritten(buffer.take_batch(2, 1000))
    assert [e.message for e in buffer.take_batch(10, 7)] == ["aaaa", "bb"]  # 8 > 7
    buffer.unwritten(buffer.take_batch(10, 7))
    assert [e.message for e in buffer.take_batch(10, 1)] == ["aaaa"]  # alone, over it


def test_withdraw_takes_back_only_a_message_still_waiting() -> None:
    buffer = SendBuffer(capacity=10, max_bytes=1000, overflow=Overflow.BLOCK)
    first, second = trio.Event(), trio.Event()
    buffer.put_nowait("flying", first)
    buffer.put_nowait("queued", second)
    [flying] = buffer.take_batch(1, 1000)
    assert buffer.withdraw(flying) is False  # the writer has it: it will be written
    [_, queued] = list(buffer._writable())
    assert buffer.withdraw(queued) is True
    assert (len(buffer), buffer.bytes) == (1, len("flying"))
    buffer.written([flying])
    assert first.is_set() and buffer.withdraw(flying) is False  # written already


def test_a_message_put_back_into_a_closed_buffer_gets_its_error() -> None:
    buffer = SendBuffer(capacity=10, max_bytes=1000, overflow=Overflow.BLOCK)
    waiting = trio.Event()
    buffer.put_nowait("abandoned", waiting)
    closed = SessionClosed("the session is closed (test)")
    assert buffer.close(closed) == 1
    assert waiting.is_set()
    with pytest.raises(SessionClosed, match=r"\(test\)"):
        buffer.put_front("failed direct write", trio.Event())
    with pytest.raises(SessionClosed):
        buffer.put_nowait("later")
