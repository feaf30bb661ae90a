"""tether.testing: the in-memory WebSocket server, its faults and fault plans.

trio-websocket is the client here (not tether's Session), and every test runs on the
virtual clock, asserting exact times.
"""

from __future__ import annotations

import ast
import errno
import inspect
import typing
from collections.abc import Callable
from typing import Any, cast

import pytest
import trio
import trio_websocket
from trio.testing import MockClock
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketConnection

from tether.testing import (
    Close,
    Drop,
    FaultPlan,
    MemoryServer,
    Refuse,
    Reject,
    Restart,
    ScheduledFault,
    ServerConnection,
    Slow,
    Stall,
    _faults,
    memory_server,
)
from tether.testing._link import Link, MemoryNetwork


async def connect(
    nursery: trio.Nursery,
    server: MemoryServer,
    path: str = "/",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> WebSocketConnection:
    stream = await server.opener("example", 80, False)
    return await trio_websocket.wrap_client_stream(
        nursery, cast(Any, stream), "example", path, extra_headers=headers
    )


async def close_code_of(conn: WebSocketConnection) -> int:
    """Wait for the connection to end; return the close code the client saw."""
    with pytest.raises(ConnectionClosed) as info:
        await conn.get_message()
    assert info.value.reason is not None
    return info.value.reason.code


# -- serving ------------------------------------------------------------------------


async def test_echo_text_and_binary_and_record(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        conn = await connect(nursery, server, "/chat?room=1", [(b"X-Token", b"abc")])
        await conn.send_message("hello")
        assert await conn.get_message() == "hello"
        await conn.send_message(b"\x00\xff")
        assert await conn.get_message() == b"\x00\xff"
        assert trio.current_time() == 0
        [record] = server.connections
        assert server.open_connections == [record]
        assert (record.id, record.accepted_at, record.opened, record.opened_at) == (1, 0, True, 0)
        assert record.path == "/chat?room=1"
        assert record.headers["x-token"] == "abc"
        assert (record.host, record.port) == ("example", 80)
        assert "sec-websocket-key" in record.headers
        assert record.messages == ["hello", b"\x00\xff"]
        assert record.messages_received == 2
        assert (record.closed_at, record.close_code, record.closed_by) == (None, None, None)
        await conn.aclose()


async def test_client_close_is_recorded(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        conn = await connect(nursery, server)
        await trio.sleep(2)
        await conn.aclose(4000, "bye")
        await server.wait_closed(1)
        [record] = server.connections
        assert (record.closed_at, record.close_code, record.closed_by) == (2, 4000, "client")
        assert server.open_connections == []


async def test_handler_return_closes_with_1000(autojump_clock: MockClock) -> None:
    async def greet(conn: ServerConnection) -> None:
        await conn.send_message(f"hello {conn.path}")

    async with trio.open_nursery() as nursery, memory_server(greet) as server:
        conn = await connect(nursery, server, "/x")
        assert await conn.get_message() == "hello /x"
        assert await close_code_of(conn) == 1000
        await server.wait_closed(1)
        record = server.connections[0]
        assert (record.close_code, record.closed_by, record.handler_error) == (1000, "server", None)


async def test_handler_error_closes_with_1011_server_survives(autojump_clock: MockClock) -> None:
    async def crash(conn: ServerConnection) -> None:
        if await conn.get_message() == "boom":
            raise RuntimeError("boom")
        await conn.send_message("fine")

    async with trio.open_nursery() as nursery, memory_server(crash) as server:
        first = await connect(nursery, server)
        await first.send_message("boom")
        assert await close_code_of(first) == 1011
        await server.wait_closed(1)
        record = server.connections[0]
        assert (record.close_code, record.closed_by) == (1011, "server")
        assert isinstance(record.handler_error, RuntimeError)

        second = await connect(nursery, server)
        await second.send_message("hi")
        assert await second.get_message() == "fine"


async def test_wait_connections_returns_when_the_nth_opens(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:

        async def open_two() -> None:
            await trio.sleep(1)
            await connect(nursery, server)
            await trio.sleep(1)
            await connect(nursery, server)

        nursery.start_soon(open_two)
        await server.wait_connections(2)
        assert trio.current_time() == 2
        await server.wait_connections(1)  # already true: returns at once
        assert trio.current_time() == 2
        nursery.cancel_scope.cancel()


async def test_exit_aborts_refuses_and_does_not_wrap_errors(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery:
        async with memory_server() as server:
            conn = await connect(nursery, server)
        assert await close_code_of(conn) == 1006
        assert server.connections[0].closed_by == "abort"
        with pytest.raises(ConnectionRefusedError):
            await server.opener("example", 80, False)

    with pytest.raises(KeyError):
        async with memory_server():
            raise KeyError("not wrapped in a group")


async def test_cancelling_around_the_server_is_clean(autojump_clock: MockClock) -> None:
    with trio.move_on_after(3) as scope:
        async with trio.open_nursery() as nursery, memory_server() as server:
            await connect(nursery, server)
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert trio.current_time() == 3
    assert server.connections[0].closed_by == "abort"


def test_opener_fits_the_transport_seam() -> None:
    hints = typing.get_type_hints(MemoryServer.opener)
    assert hints == {"host": str, "port": int, "tls": bool, "return": trio.abc.Stream}


# -- faults -------------------------------------------------------------------------


async def test_drop_aborts_without_close_frame(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        conn = await connect(nursery, server)

        async def drop_later() -> None:
            await trio.sleep(3)
            server.drop()

        nursery.start_soon(drop_later)
        assert await close_code_of(conn) == 1006
        assert trio.current_time() == 3
        with pytest.raises(ConnectionClosed):
            await conn.send_message("too late")
        [record] = server.connections
        assert (record.closed_at, record.close_code, record.closed_by) == (3, 1006, "abort")


async def test_drop_breaks_both_directions_of_the_raw_stream(autojump_clock: MockClock) -> None:
    async with memory_server() as server:
        stream = await server.opener("example", 80, False)
        server.drop()
        with pytest.raises(trio.BrokenResourceError):
            await stream.receive_some()
        with pytest.raises(trio.BrokenResourceError):
            await stream.send_all(b"GET / HTTP/1.1\r\n")
        await server.wait_closed(1)
        assert server.connections[0].close_code is None  # it never opened


async def test_close_sends_the_code_and_waits_for_the_handshake(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        conn = await connect(nursery, server)
        await trio.sleep(1)
        await server.close(1001, "maintenance")
        [record] = server.connections
        assert (record.closed_at, record.close_code, record.closed_by) == (1, 1001, "server")
        with pytest.raises(ConnectionClosed) as info:
            await conn.get_message()
        assert info.value.reason is not None
        assert (info.value.reason.code, info.value.reason.reason) == (1001, "maintenance")
        assert trio.current_time() == 1
        with pytest.raises(ValueError, match="code"):
            await server.close(1006)


async def test_stall_is_half_open_until_resume(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        conn = await connect(nursery, server)
        server.stall()
        await conn.send_message("queued")  # writes still succeed
        with trio.move_on_after(5) as scope:
            await conn.ping()
        assert scope.cancelled_caught
        assert trio.current_time() == 5
        [record] = server.connections
        assert record.messages == []  # nothing reached the server
        assert server.open_connections == [record]  # the link is still up

        server.resume()
        assert await conn.get_message() == "queued"
        await conn.ping()
        assert trio.current_time() == 5
        assert record.messages == ["queued"]


async def test_stall_holds_back_a_server_close(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        conn = await connect(nursery, server)
        server.stall()
        with trio.move_on_after(10):
            await server.close(1012)
        assert trio.current_time() == 10  # the client never answered
        with trio.move_on_after(1):
            await conn.get_message()
        assert conn.closed is None  # the client never saw the Close frame either


async def test_connections_opened_after_stall_are_not_stalled(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        await connect(nursery, server)
        server.stall()
        fresh = await connect(nursery, server)
        await fresh.send_message("x")
        assert await fresh.get_message() == "x"
        assert trio.current_time() == 0


async def test_slow_delays_each_chunk_each_way(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        server.slow(0.5)
        conn = await connect(nursery, server)
        assert trio.current_time() == 1.0  # request and response, 0.5 s each
        assert server.connections[0].opened_at == 0.5
        await conn.send_message("a")
        assert await conn.get_message() == "a"
        assert trio.current_time() == 2.0  # echo round trip: 2 * 0.5
        server.slow(None)
        await conn.send_message("b")
        assert await conn.get_message() == "b"
        assert trio.current_time() == 2.0
        with pytest.raises(ValueError, match="delay"):
            server.slow(-1)


async def test_refuse_n_attempts(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        server.refuse(2)
        for _ in range(2):
            with pytest.raises(ConnectionRefusedError) as info:
                await server.opener("example", 80, False)
            assert info.value.errno == errno.ECONNREFUSED
        conn = await connect(nursery, server)
        await conn.send_message("in")
        assert await conn.get_message() == "in"
        assert server.refused_attempts == 2
        assert [r.id for r in server.connections] == [1]


async def test_reject_answers_the_handshake_with_a_status(autojump_clock: MockClock) -> None:
    async with memory_server() as server:
        server.reject(1, 503, {"Retry-After": "7"}, body=b"busy")
        with pytest.RaisesGroup(ConnectionRejected) as info:
            async with trio.open_nursery() as nursery:
                await connect(nursery, server)
        rejected = info.value.exceptions[0]
        assert isinstance(rejected, ConnectionRejected)
        assert rejected.status_code == 503
        assert (b"retry-after", b"7") in rejected.headers
        assert rejected.body == b"busy"
        await server.wait_closed(1)
        record = server.connections[0]
        assert (record.opened, record.rejected_status, record.closed_by) == (False, 503, "server")
        assert record.close_code is None

        async with trio.open_nursery() as nursery:  # only the next one was rejected
            conn = await connect(nursery, server)
            await conn.aclose()
        assert server.connections[1].opened


async def test_go_down_and_come_back(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        conn = await connect(nursery, server)
        server.refuse(1)
        server.go_down()
        assert await close_code_of(conn) == 1006
        for _ in range(3):
            with pytest.raises(ConnectionRefusedError):
                await server.opener("example", 80, False)
        server.come_back()
        with pytest.raises(ConnectionRefusedError):  # the refusal asked for before
            await server.opener("example", 80, False)
        await connect(nursery, server)
        assert server.refused_attempts == 4
        assert len(server.open_connections) == 1


async def test_restart_timing(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        conn = await connect(nursery, server)
        nursery.start_soon(server.restart, 10)
        assert await close_code_of(conn) == 1006
        assert trio.current_time() == 0
        await trio.sleep_until(9.5)
        with pytest.raises(ConnectionRefusedError):
            await server.opener("example", 80, False)
        await trio.sleep_until(10.5)
        await connect(nursery, server)

        start = trio.current_time()
        await server.restart(2.5)
        assert trio.current_time() - start == 2.5


# -- the link itself ----------------------------------------------------------------


async def test_link_delivers_in_order_after_delay_and_eof_last(autojump_clock: MockClock) -> None:
    network = MemoryNetwork(delay=1.0)
    link = Link(network)
    await link.client_end.send_all(b"abc")
    await trio.sleep(0.5)
    await link.client_end.send_all(b"def")
    await link.client_end.aclose()
    assert await link.server_end.receive_some(2) == b"ab"
    assert trio.current_time() == 1.0
    assert await link.server_end.receive_some() == b"c"
    assert await link.server_end.receive_some() == b"def"
    assert trio.current_time() == 1.5
    assert await link.server_end.receive_some() == b""
    assert link.server_end.saw_eof
    with pytest.raises(trio.ClosedResourceError):
        await link.client_end.receive_some()


async def test_link_rejects_concurrent_receivers_abort_wakes_them(
    autojump_clock: MockClock,
) -> None:
    link = Link(MemoryNetwork())
    woken_at: list[float] = []

    async def receive() -> None:
        with pytest.raises(trio.BrokenResourceError):
            await link.server_end.receive_some()
        woken_at.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await trio.sleep(1)
        with pytest.raises(trio.BusyResourceError):
            await link.server_end.receive_some()
        link.abort()
    assert woken_at == [1]


# -- fault plans --------------------------------------------------------------------


def test_fault_plan_random_is_repeatable_sorted_and_non_overlapping() -> None:
    plan = FaultPlan.random(seed=7, duration=600, mean_interval=20)
    assert plan == FaultPlan.random(seed=7, duration=600, mean_interval=20)
    assert plan != FaultPlan.random(seed=8, duration=600, mean_interval=20)
    assert len(plan.faults) > 5
    assert {type(item.fault) for item in plan.faults} == set(_faults.ALL_KINDS)
    ends = 0.0
    for item in plan.faults:
        assert ends <= item.at < 600
        ends = item.at + _faults.fault_span(item.fault)
    assert plan.end == ends

    only = FaultPlan.random(seed=7, duration=600, mean_interval=20, kinds=[Drop, Stall])
    assert {type(item.fault) for item in only.faults} == {Drop, Stall}
    with pytest.raises(ValueError, match="kinds"):
        FaultPlan.random(seed=7, duration=600, mean_interval=20, kinds=[])
    with pytest.raises(ValueError, match="mean_interval"):
        FaultPlan.random(seed=7, duration=600, mean_interval=0)


def test_fault_plan_sorts_and_validates() -> None:
    plan = FaultPlan([(5, Drop()), ScheduledFault(1, Refuse(2)), (5, Close(1012))])
    assert [(item.at, item.fault) for item in plan.faults] == [
        (1, Refuse(2)),
        (5, Drop()),
        (5, Close(1012)),
    ]
    assert Reject(headers={"Retry-After": "3"}).headers == (("Retry-After", "3"),)
    assert hash(Reject(headers={"Retry-After": "3"}))  # frozen and hashable
    with pytest.raises(ValueError, match="duration"):
        Stall(-1)
    with pytest.raises(ValueError, match="count"):
        Refuse(0)
    with pytest.raises(ValueError, match="code"):
        Close(1006)
    with pytest.raises(ValueError, match="at"):
        ScheduledFault(float("nan"), Drop())


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Stall("1"), TypeError, "duration: must be a number of seconds, got '1'"),
        (lambda: Stall(True), TypeError, "duration: must be a number of seconds, got True"),
        (lambda: Refuse(1.5), TypeError, "count: must be an integer, got 1.5"),
        (lambda: Close("1000"), TypeError, "code: must be an integer, got '1000'"),
        (
            lambda: FaultPlan.random(seed=1, duration=-1, mean_interval=1),
            ValueError,
            "duration: must be >= 0, got -1",
        ),
    ],
)
def test_faults_refuse_the_wrong_types(
    make: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        make()
    assert str(raised.value) == message


async def test_server_fault_arguments_are_checked(autojump_clock: MockClock) -> None:
    async with memory_server() as server:
        with pytest.raises(ValueError, match=r"^n: must be an integer >= 1, got 0$"):
            server.reject(0)
        with pytest.raises(ValueError, match=r"^n: must be an integer >= 1, got True$"):
            server.refuse(True)
        with pytest.raises(ValueError, match=r"^status: must be within 300-599, got 200$"):
            server.reject(1, 200)


def test_fault_module_does_not_import_trio() -> None:
    tree = ast.parse(inspect.getsource(_faults))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert "trio" not in imported
    assert "trio_websocket" not in imported


async def test_run_plan_applies_each_fault_at_its_time(autojump_clock: MockClock) -> None:
    plan = FaultPlan(
        [
            (1.0, Drop()),
            (2.0, Refuse(1)),
            (4.0, Close(1012, "restart")),
            (5.0, Restart(3.0)),
            (9.0, Slow(0.25, 2.0)),
            (12.0, Stall(3.0)),
            (16.0, Reject(1, 429)),
        ]
    )
    async with trio.open_nursery() as nursery, memory_server() as server:
        nursery.start_soon(server.run_plan, plan)
        a = await connect(nursery, server)
        assert await close_code_of(a) == 1006  # Drop at 1.0
        assert trio.current_time() == 1.0

        await trio.sleep_until(2.5)
        with pytest.raises(ConnectionRefusedError):  # Refuse at 2.0
            await server.opener("example", 80, False)
        b = await connect(nursery, server)
        assert await close_code_of(b) == 1012  # Close at 4.0
        assert trio.current_time() == 4.0

        await trio.sleep_until(4.5)
        c = await connect(nursery, server)
        assert await close_code_of(c) == 1006  # Restart at 5.0 ...
        assert trio.current_time() == 5.0
        await trio.sleep_until(7.99)
        with pytest.raises(ConnectionRefusedError):  # ... down until 8.0
            await server.opener("example", 80, False)

        await trio.sleep_until(8.5)
        d = await connect(nursery, server)
        await trio.sleep_until(9.5)
        await d.send_message("slow")  # Slow(0.25) from 9.0 to 11.0
        assert await d.get_message() == "slow"
        assert trio.current_time() == 10.0
        await trio.sleep_until(11.5)
        await d.send_message("fast")
        assert await d.get_message() == "fast"
        assert trio.current_time() == 11.5

        await trio.sleep_until(12.5)
        await d.send_message("stalled")  # Stall from 12.0 to 15.0
        assert await d.get_message() == "stalled"
        assert trio.current_time() == 15.0

        await trio.sleep_until(16.5)
        with pytest.RaisesGroup(ConnectionRejected):  # Reject at 16.0
            async with trio.open_nursery() as inner:
                await connect(inner, server)

        assert server.fault_log == [(item.at, item.fault) for item in plan.faults]
        closed = [(r.closed_at, r.closed_by, r.close_code) for r in server.connections[:3]]
        assert closed == [(1.0, "abort", 1006), (4.0, "server", 1012), (5.0, "abort", 1006)]
        nursery.cancel_scope.cancel()


async def test_run_plan_returns_at_plan_end_and_undoes_on_cancel(autojump_clock: MockClock) -> None:
    async with trio.open_nursery() as nursery, memory_server() as server:
        plan = FaultPlan([(1, Drop()), (2, Slow(0.5, 4))])
        await server.run_plan(plan)
        assert trio.current_time() == plan.end == 6

        conn = await connect(nursery, server)
        with trio.move_on_after(1):
            await server.run_plan(FaultPlan([(0, Stall(100)), (0.5, Slow(3, 100))]))
        await conn.send_message("x")  # neither stalled nor slowed any more
        assert await conn.get_message() == "x"
        assert trio.current_time() == 7
        await conn.aclose()


async def test_the_handler_sees_the_handshake_headers(autojump_clock: MockClock) -> None:
    seen: list[dict[str, str]] = []

    async def handler(conn: ServerConnection) -> None:
        seen.append(conn.headers)
        await conn.send_message("seen")

    async with trio.open_nursery() as nursery, memory_server(handler) as server:
        conn = await connect(nursery, server, headers=[(b"X-App", b"probe/1")])
        assert await conn.get_message() == "seen"
        await conn.aclose()
    [headers] = seen
    assert headers["x-app"] == "probe/1"
    assert headers is server.connections[0].headers  # the record's own
