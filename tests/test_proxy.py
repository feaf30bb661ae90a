"""ChaosProxy over real loopback sockets, between a trio-websocket server and client.

These use real time. Every wait is on a condition under a ``trio.fail_after`` bound;
the only fixed waits are the ones a test is about (a ping that must *not* return
within 0.5 s while the link is stalled; latency added by ``slow()``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    open_websocket,
    serve_websocket,
)

from tether.testing._proxy import ChaosProxy

pytestmark = pytest.mark.loopback

#: Upper bound for anything that should happen "promptly" on loopback (seconds).
PROMPT = 2.0


async def echo_handler(request: WebSocketRequest) -> None:
    connection = await request.accept()
    try:
        while True:
            await connection.send_message(await connection.get_message())
    except ConnectionClosed:
        pass


@pytest.fixture
async def server_port(nursery: trio.Nursery) -> int:
    server = await nursery.start(serve_websocket, echo_handler, "127.0.0.1", 0, None)
    port: int = server.port
    return port


@pytest.fixture
async def proxy(server_port: int) -> AsyncIterator[ChaosProxy]:
    async with ChaosProxy(upstream=("127.0.0.1", server_port)) as proxy:
        yield proxy


async def echo(ws: WebSocketConnection, message: str) -> str:
    await ws.send_message(message)
    reply = await ws.get_message()
    assert isinstance(reply, str)
    return reply


async def test_forwards_both_ways_and_counts_connections(proxy: ChaosProxy) -> None:
    assert proxy.port > 0
    async with open_websocket("127.0.0.1", proxy.port, "/", use_ssl=False) as ws:
        for n in range(20):
            assert await echo(ws, f"msg-{n}") == f"msg-{n}"
        big = "x" * 300_000
        assert await echo(ws, big) == big
        stats = proxy.statistics()
        assert (stats.accepted, stats.open) == (1, 1)
    with trio.fail_after(PROMPT):
        stats = await proxy.wait_until(lambda s: s.open == 0)
    assert (stats.accepted, stats.dropped, stats.upstream_failures) == (1, 0, 0)


async def test_drop_resets_the_connection_promptly(proxy: ChaosProxy) -> None:
    async with open_websocket("127.0.0.1", proxy.port, "/", use_ssl=False) as ws:
        assert await echo(ws, "before") == "before"
        assert proxy.drop() == 1
        assert proxy.open_connections == 0
        with trio.fail_after(PROMPT), pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason is not None
        assert info.value.reason.code == 1006
    assert proxy.statistics().dropped == 1
    # The listener is unaffected: a new connection works.
    async with open_websocket("127.0.0.1", proxy.port, "/", use_ssl=False) as ws:
        assert await echo(ws, "after") == "after"
    assert proxy.accepted == 2


async def test_stall_is_a_half_open_link_until_resume(proxy: ChaosProxy) -> None:
    async with open_websocket("127.0.0.1", proxy.port, "/", use_ssl=False) as ws:
        with trio.fail_after(PROMPT):
            await ws.ping()
        proxy.stall()
        assert proxy.stalled
        with trio.move_on_after(0.5) as unanswered:
            await ws.ping()
        assert unanswered.cancelled_caught
        await ws.send_message("held during the stall")
        assert proxy.open_connections == 1  # both TCP connections are still up
        proxy.resume()
        with trio.fail_after(PROMPT):
            await ws.ping()
            assert await ws.get_message() == "held during the stall"


async def test_go_down_refuses_and_come_back_reopens_the_same_port(proxy: ChaosProxy) -> None:
    port = proxy.port
    proxy.go_down()
    assert proxy.down
    with trio.fail_after(PROMPT), pytest.raises(OSError) as info:
        await trio.open_tcp_stream("127.0.0.1", port)
    causes = getattr(info.value.__cause__, "exceptions", ())
    assert any(isinstance(cause, ConnectionRefusedError) for cause in causes), info.value
    proxy.come_back()
    assert (proxy.port, proxy.down) == (port, False)
    with trio.fail_after(PROMPT):
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
            assert await echo(ws, "back") == "back"


async def test_go_down_keeps_existing_connections(proxy: ChaosProxy) -> None:
    async with open_websocket("127.0.0.1", proxy.port, "/", use_ssl=False) as ws:
        proxy.refuse(True)
        with trio.fail_after(PROMPT):
            assert await echo(ws, "still here") == "still here"
        proxy.refuse(False)


async def test_slow_adds_latency_each_way(proxy: ChaosProxy) -> None:
    delay = 0.1
    async with open_websocket("127.0.0.1", proxy.port, "/", use_ssl=False) as ws:
        proxy.slow(delay)
        start = trio.current_time()
        with trio.fail_after(PROMPT):
            assert await echo(ws, "slow") == "slow"
        assert trio.current_time() - start >= 2 * delay
        proxy.slow(0)
        with pytest.raises(ValueError, match="delay"):
            proxy.slow(-1)


async def test_upstream_down_resets_the_client() -> None:
    with trio.socket.socket() as placeholder:
        await placeholder.bind(("127.0.0.1", 0))
        dead_port = placeholder.getsockname()[1]
    async with ChaosProxy(upstream=("127.0.0.1", dead_port)) as proxy:
        stream = await trio.open_tcp_stream("127.0.0.1", proxy.port)
        with trio.fail_after(PROMPT):
            try:
                assert await stream.receive_some(1) == b""
            except trio.BrokenResourceError:
                pass  # connection reset: also fine
        assert proxy.statistics().upstream_failures == 1
        await stream.aclose()


async def test_exit_closes_open_connections_and_body_errors_stay_unwrapped(
    server_port: int,
) -> None:
    streams: list[trio.SocketStream] = []

    async def fail_inside_proxy() -> None:
        async with ChaosProxy(upstream=("127.0.0.1", server_port)) as proxy:
            streams.append(await trio.open_tcp_stream("127.0.0.1", proxy.port))
            with trio.fail_after(PROMPT):
                await proxy.wait_until(lambda s: s.open == 1)
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await fail_inside_proxy()
    with trio.fail_after(PROMPT):
        assert await streams[0].receive_some(1) == b""
    await streams[0].aclose()


@pytest.mark.parametrize(
    ("upstream", "listen"),
    [
        (("10.0.0.1", 80), ("127.0.0.1", 0)),
        (("127.0.0.1", 80), ("0.0.0.0", 0)),
        (("localhost", 80), ("127.0.0.1", 0)),
    ],
)
def test_only_loopback_addresses(upstream: tuple[str, int], listen: tuple[str, int]) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ChaosProxy(upstream=upstream, listen=listen)


def test_ports_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^upstream: port 70000 is out of range 0-65535$"):
        ChaosProxy(upstream=("127.0.0.1", 70000))
    with pytest.raises(ValueError, match=r"^listen: port -1 is out of range 0-65535$"):
        ChaosProxy(upstream=("127.0.0.1", 80), listen=("127.0.0.1", -1))


async def test_a_proxy_is_entered_once(server_port: int) -> None:
    proxy = ChaosProxy(upstream=("127.0.0.1", server_port))
    async with proxy:
        with pytest.raises(RuntimeError, match=r"^a ChaosProxy can be entered only once$"):
            async with proxy:
                pass
