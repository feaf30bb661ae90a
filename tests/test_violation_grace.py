"""A server that breaks the protocol right after a valid message: the application's
reply to that message is written before the Close that fails the connection, whether
the bad frame came in the same read or a later one (Autobahn 3.2-3.4, 4.x, 5.15), and an
application that does not read delays the Close by at most ``VIOLATION_GRACE``."""

from __future__ import annotations

import pytest
import trio
import trio.testing
import wsproto
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

import tether
from tether.connection._client import VIOLATION_GRACE

URL = "ws://127.0.0.1:9/"
HELLO = bytes.fromhex("810568656c6c6f")  # text "hello"
BAD = bytes.fromhex("f10568656c6c6f")  # the same with RSV1-3 set: a 1002


def opener(  # type: ignore[no-untyped-def]
    nursery: trio.Nursery, chunks: list[bytes], seen: list[object], closed: trio.Event
):
    async def serve(stream: trio.abc.Stream) -> None:
        server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        accepted = False
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            server.receive_data(data)
            for event in server.events():
                if isinstance(event, Request):
                    await stream.send_all(server.send(AcceptConnection()))
                    accepted = True
                elif isinstance(event, (TextMessage, CloseConnection)):
                    seen.append((trio.current_time(), event))
                    if isinstance(event, CloseConnection):
                        closed.set()
            if accepted and chunks:
                for chunk in chunks:
                    await stream.send_all(chunk)
                    await trio.sleep(0.01)
                chunks.clear()

    async def open_stream(host: str, port: int, tls: bool) -> trio.abc.Stream:
        client, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(serve, server_end)
        return client

    return open_stream


CONFIG = tether.Config(ping_interval=None, compression=None, max_attempts=1)


@pytest.mark.parametrize("split", [False, True], ids=["same-read", "later-read"])
async def test_the_reply_to_a_message_before_a_bad_frame_goes_out_before_the_close(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, split: bool
) -> None:
    seen: list[object] = []
    closed = trio.Event()
    chunks = [HELLO, BAD] if split else [HELLO + BAD]
    with pytest.raises(tether.ReconnectFailed):
        async with tether.connect(
            URL, config=CONFIG, opener=opener(nursery, chunks, seen, closed)
        ) as s:
            assert await s.receive() == "hello"
            await s.send("echo: hello")
            await s.receive()  # raises once the failed connection gives up
    with trio.fail_after(5):
        await closed.wait()  # the server task has read what the client wrote
    events = [event for _, event in seen]  # type: ignore[misc]
    assert isinstance(events[0], TextMessage) and events[0].data == "echo: hello"
    assert isinstance(events[1], CloseConnection) and events[1].code == 1002


async def test_an_application_that_does_not_read_delays_the_close_by_the_grace_only(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    seen: list[object] = []
    closed = trio.Event()
    with pytest.raises(tether.ReconnectFailed):
        async with tether.connect(
            URL, config=CONFIG, opener=opener(nursery, [HELLO + BAD], seen, closed)
        ) as session:
            start = trio.current_time()
            with trio.fail_after(5):
                await closed.wait()
            closed_at, close = seen[0]  # type: ignore[misc]
            assert isinstance(close, CloseConnection) and close.code == 1002
            # The grace, within the server's own 10 ms pause after its chunk.
            assert closed_at - start == pytest.approx(VIOLATION_GRACE, abs=0.011)
            assert await session.receive() == "hello"  # delivered, not lost
            await session.receive()
