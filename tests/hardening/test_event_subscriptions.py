"""Issue 10, item 8: an ``events()`` subscription nobody holds any more is released; a
stream used as a context manager unsubscribes when its block exits; the tutorial's
"Watch what happens" example ends, as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import tether
from tether import Config, events
from tether.testing import memory_server

URL = "ws://tether.test/"
CONFIG = Config(ping_interval=None, ping_timeout=None)
TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"


async def reconnect(session: tether.Session, times: int) -> None:
    for _ in range(times):
        session.reconnect()
        await session.wait_connected()


async def test_abandoned_events_loops_are_unsubscribed(autojump_clock: trio.abc.Clock) -> None:
    """1,000 loops that return after their first event and are dropped leave no
    subscription behind: later events are neither buffered nor dropped for them."""
    first: list[events.Event] = []

    async def wait_for_one_event(session: tether.Session) -> None:
        async for event in session.events(max_buffer=2):
            first.append(event)
            return

    async with memory_server() as server:
        with trio.fail_after(60):
            async with tether.connect(URL, config=CONFIG, opener=server.opener) as session:
                async with trio.open_nursery() as nursery:
                    for _ in range(1000):
                        nursery.start_soon(wait_for_one_event, session)
                    await trio.testing.wait_all_tasks_blocked()
                    session.reconnect()
                assert len(first) == 1000
                assert all(isinstance(event, events.ConnectionLost) for event in first)
                await reconnect(session, 3)  # 9 events: 9 x 1,000 dropped if still held
                statistics = session.statistics()
                assert statistics.events_dropped == 0
                assert statistics.event_subscribers == 0


async def test_a_held_stream_stays_subscribed(autojump_clock: trio.abc.Clock) -> None:
    """Only an unreachable stream is released: one that is held but not read keeps its
    subscription, misses what does not fit, and reads what does."""
    async with memory_server() as server:
        with trio.fail_after(60):
            async with tether.connect(URL, config=CONFIG, opener=server.opener) as session:
                stream = session.events(max_buffer=3)
                await reconnect(session, 2)
                statistics = session.statistics()
                assert statistics.event_subscribers == 1
                assert statistics.events_dropped == 3
                assert stream.statistics().current_buffer_used == 3
                kinds = [type(stream.receive_nowait()).__name__ for _ in range(3)]
                assert kinds == ["ConnectionLost", "Connecting", "Connected"]
                with pytest.raises(trio.WouldBlock):
                    stream.receive_nowait()


async def test_context_manager_exit_unsubscribes_at_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with memory_server() as server:
        with trio.fail_after(60):
            async with tether.connect(URL, config=CONFIG, opener=server.opener) as session:
                with session.events() as stream:
                    assert session.statistics().event_subscribers == 1
                    session.reconnect()
                    assert isinstance(await stream.receive(), events.ConnectionLost)
                # No event in between: the exit itself unsubscribed.
                assert session.statistics().event_subscribers == 0
                assert stream.statistics().open_send_channels == 0
                with pytest.raises(trio.ClosedResourceError):
                    stream.receive_nowait()

                async with session.events() as other:
                    assert session.statistics().event_subscribers == 1
                    await session.aclose()
                    kinds = [type(event).__name__ async for event in other]
                    assert kinds == ["Closed"]
                assert session.statistics().event_subscribers == 0
            assert session.statistics().events_dropped == 0


async def test_events_after_the_end_is_an_ended_stream(autojump_clock: trio.abc.Clock) -> None:
    async with memory_server() as server:
        with trio.fail_after(60):
            async with tether.connect(URL, config=CONFIG, opener=server.opener) as session:
                pass
            stream = session.events()
            with pytest.raises(trio.EndOfChannel):
                await stream.receive()
            assert session.statistics().event_subscribers == 0


def watch_what_happens() -> str:
    """The python block of the tutorial's "Watch what happens" section."""
    text = TUTORIAL.read_text(encoding="utf-8")
    section = text.split("## Watch what happens\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, re.M | re.S)
    assert len(blocks) == 1
    return str(blocks[0])


async def test_the_tutorial_watch_what_happens_example_ends(
    nursery: trio.Nursery, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example runs as written against a real server on 127.0.0.1, with its
    ``...`` filled in by a reconnect, and ends once its session is closed."""

    async def echo(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            pass

    server = await nursery.start(serve_websocket, echo, "127.0.0.1", 0, None)
    code = watch_what_happens()
    lines = code.splitlines()
    fill = [i for i, line in enumerate(lines) if line.strip() == "..."]
    assert len(fill) == 1
    indent = lines[fill[0]][: len(lines[fill[0]]) - len(lines[fill[0]].lstrip())]
    lines[fill[0]] = f"{indent}session.reconnect()\n{indent}await session.wait_connected()"
    source = "async def example(url):\n" + textwrap.indent("\n".join(lines), "    ")
    namespace: dict[str, object] = {"tether": tether, "trio": trio}
    exec(compile(source, str(TUTORIAL), "exec"), namespace)
    with trio.fail_after(10):
        await namespace["example"](f"ws://127.0.0.1:{server.port}/")  # type: ignore[operator]
    printed = capsys.readouterr().out.splitlines()
    url = f"ws://127.0.0.1:{server.port}/"
    assert [line.split(maxsplit=1)[1] for line in printed] == [
        "connection lost (generation 1): superseded: reconnect() called",
        f"connecting to {url} (generation 2, attempt 1)",
        f"connected to {url} (generation 2)",
        "closed (code 1000)",
    ]


async def test_a_stream_needs_room_for_one_event(autojump_clock: trio.abc.Clock) -> None:
    async with (
        memory_server() as server,
        tether.connect(URL, config=CONFIG, opener=server.opener) as session,
    ):
        for bad in (0, -1):
            with pytest.raises(tether.ConfigError, match=rf"^max_buffer: must be >= 1, got {bad}$"):
                session.events(max_buffer=bad)
        assert session.statistics().event_subscribers == 0


async def test_closing_a_stream_twice_is_harmless(autojump_clock: trio.abc.Clock) -> None:
    async with (
        memory_server() as server,
        tether.connect(URL, config=CONFIG, opener=server.opener) as session,
    ):
        first, second = session.events(), session.events()
        assert session.statistics().event_subscribers == 2
        first.close()
        first.close()  # idempotent: the other subscription stays
        assert session.statistics().event_subscribers == 1
        session.reconnect()
        await session.wait_connected()
        assert isinstance(second.receive_nowait(), events.ConnectionLost)
        with pytest.raises(trio.ClosedResourceError):
            first.receive_nowait()
