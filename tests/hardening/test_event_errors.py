"""Issue 10, item 3 (the events part): the error a ``BackingOff`` event carries keeps
no traceback alive, nor more than 4 KiB of a rejected handshake's body."""

from __future__ import annotations

import trio

import tether
from tether import Backoff, Config, events
from tether.testing import memory_server

from ..helpers import EventLog

URL = "ws://tether.test/"
CONFIG = Config(ping_interval=None, backoff=Backoff(initial=1, jitter=False))
#: 1 MiB in which every 4 KiB block differs from the next.
BODY = b"".join(bytes([i % 251]) * 4096 for i in range(256))


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception linked from it by ``__cause__``/``__context__`` or
    held in an exception group on the way."""
    found: list[BaseException] = []
    stack = [error]
    while stack:
        item = stack.pop()
        if all(item is not other for other in found):
            found.append(item)
            stack.extend(e for e in (item.__cause__, item.__context__) if e is not None)
            stack.extend(getattr(item, "exceptions", ()))
    return found


async def test_backing_off_errors_carry_no_traceback_and_a_bounded_body(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    refused_first = True

    async def opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
        nonlocal refused_first
        if refused_first:  # an error with a cause and a context, each with a traceback
            refused_first = False
            try:
                raise LookupError("inner")
            except LookupError as inner:
                raise ConnectionRefusedError("outer") from inner
        return await server.opener(host, port, tls)

    async with memory_server() as server:
        server.reject(2, 503, body=BODY)
        with trio.fail_after(10):
            async with tether.connect(URL, config=CONFIG, opener=opener, on_event=log):
                pass
    backing_off = log.of(events.BackingOff)
    assert [(event.at, event.delay) for event in backing_off] == [(0, 1), (1, 2), (3, 4)]
    refused, *rejected = (event.error for event in backing_off)
    assert isinstance(refused, ConnectionRefusedError)
    assert type(refused.__cause__) is LookupError
    # The attempt's nursery group (the __context__) holds the same error.
    assert {type(e) for e in chain(refused)} == {
        ConnectionRefusedError,
        LookupError,
        type(refused.__context__),
    }
    for error in [refused, *rejected]:
        assert error is not None
        assert [e.__traceback__ for e in chain(error)] == [None] * len(chain(error))
    for error in rejected:
        assert isinstance(error, tether.HandshakeRejected)
        assert error.status_code == 503
        assert error.body == BODY[:4096] and error.body_truncated
