"""How a session ends (docs/design.md, "Send, receive, close"): ``aclose(code, reason)``
sends that code and reason; leaving ``connect()`` by Ctrl-C (``KeyboardInterrupt``) is
the user going away, Close 1001 (RFC 6455 section 7.4.1), not an application error."""

from __future__ import annotations

import sys

import pytest
import trio
import trio_websocket

import tether
from tether import Config
from tether.testing import ServerConnection, memory_server

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

URL = "ws://tether.test/"
CONFIG = Config(ping_interval=None)


def recording_closes(closes: list[trio_websocket.CloseReason]) -> object:
    async def handler(conn: ServerConnection) -> None:
        try:
            while True:
                await conn.get_message()
        finally:
            if conn.closed is not None:
                closes.append(conn.closed)

    return handler


async def test_aclose_sends_the_code_and_reason_asked(autojump_clock: trio.abc.Clock) -> None:
    closes: list[trio_websocket.CloseReason] = []
    with trio.fail_after(60):
        async with (
            memory_server(recording_closes(closes)) as server,  # type: ignore[arg-type]
            tether.connect(URL, config=CONFIG, opener=server.opener) as session,
        ):
            await session.aclose(4001, "shift over")
    assert [(c.code, c.reason) for c in closes] == [(4001, "shift over")]
    assert server.connections[0].close_code == 4001
    assert server.connections[0].closed_by == "client"


async def test_ctrl_c_in_the_body_closes_with_1001(autojump_clock: trio.abc.Clock) -> None:
    closes: list[trio_websocket.CloseReason] = []
    with trio.fail_after(60):
        async with memory_server(recording_closes(closes)) as server:  # type: ignore[arg-type]
            with pytest.raises(KeyboardInterrupt):
                async with tether.connect(URL, config=CONFIG, opener=server.opener):
                    raise KeyboardInterrupt
            await server.wait_closed(1)
    assert [c.code for c in closes] == [1001]
    assert server.connections[0].close_code == 1001


async def test_an_error_in_the_body_closes_with_1011(autojump_clock: trio.abc.Clock) -> None:
    closes: list[trio_websocket.CloseReason] = []
    with trio.fail_after(60):
        async with memory_server(recording_closes(closes)) as server:  # type: ignore[arg-type]
            with pytest.raises(ZeroDivisionError):
                async with tether.connect(URL, config=CONFIG, opener=server.opener):
                    1 / 0  # noqa: B018
            await server.wait_closed(1)
    assert [c.code for c in closes] == [1011]


async def test_a_nursery_in_the_body_cancelled_from_outside_closes_with_1001(
    autojump_clock: trio.abc.Clock,
) -> None:
    # The nursery raises its body's and its child's Cancelled as one exception group:
    # still a cancellation, not an error in the body (which would be 1011).
    closes: list[trio_websocket.CloseReason] = []
    with trio.fail_after(60):
        async with memory_server(recording_closes(closes)) as server:  # type: ignore[arg-type]
            with trio.move_on_after(5) as outer:
                async with (
                    tether.connect(URL, config=CONFIG, opener=server.opener) as session,
                    trio.open_nursery() as nursery,
                ):
                    nursery.start_soon(session.receive)
                    await trio.sleep_forever()
            assert outer.cancelled_caught
            assert trio.current_time() == 5
            await server.wait_closed(1)
    assert [c.code for c in closes] == [1001]


async def test_ctrl_c_inside_a_nursery_in_the_body_closes_with_1001(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def interrupt() -> None:
        raise KeyboardInterrupt

    closes: list[trio_websocket.CloseReason] = []
    with trio.fail_after(60):
        async with memory_server(recording_closes(closes)) as server:  # type: ignore[arg-type]
            # What the body raised comes out as it was: here the nursery's group.
            with pytest.raises(BaseExceptionGroup) as raised:
                async with (
                    tether.connect(URL, config=CONFIG, opener=server.opener),
                    trio.open_nursery() as nursery,
                ):
                    nursery.start_soon(interrupt)
                    await trio.sleep_forever()
            assert raised.value.subgroup(KeyboardInterrupt) is not None
            await server.wait_closed(1)
    assert [c.code for c in closes] == [1001]
