"""``receive()`` loses nothing to cancellation (docs/design.md, "Send, receive, close"):
cancelled before it takes a message, the message stays first in the buffer; once it
has taken one, it returns it."""

from __future__ import annotations

import trio
import trio.testing

import tether
from tether import Config
from tether.testing import ServerConnection, memory_server

URL = "ws://tether.test/"


class CancelAtFirstYield(trio.abc.Instrument):
    """Cancels ``scope`` when ``task`` ends its current step (its first yield)."""

    def __init__(self, task: trio.lowlevel.Task, scope: trio.CancelScope) -> None:
        self.task, self.scope = task, scope
        self.fired = False

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task and not self.fired:
            self.fired = True
            self.scope.cancel()


async def test_receive_cancelled_after_taking_a_message_still_returns_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def three(conn: ServerConnection) -> None:
        for message in ("m1", "m2", "m3"):
            await conn.send_message(message)
        await trio.sleep_forever()

    with trio.fail_after(60):
        async with (
            memory_server(three) as server,
            tether.connect(URL, config=Config(ping_interval=None), opener=server.opener) as session,
        ):
            await trio.testing.wait_all_tasks_blocked()  # all three are in the buffer
            assert session.statistics().receive_buffered == 3
            got: list[object] = []
            with trio.CancelScope() as scope:
                instrument = CancelAtFirstYield(trio.lowlevel.current_task(), scope)
                trio.lowlevel.add_instrument(instrument)
                try:
                    # The message is ready: receive() takes it, then yields once, and
                    # the cancellation arrives during that yield.
                    got.append(await session.receive())
                    await trio.lowlevel.checkpoint()
                finally:
                    trio.lowlevel.remove_instrument(instrument)
            assert instrument.fired and scope.cancelled_caught
            assert got == ["m1"]
            assert [await session.receive(), await session.receive()] == ["m2", "m3"]


async def test_receive_cancelled_while_waiting_takes_nothing(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def late(conn: ServerConnection) -> None:
        await trio.sleep(5)
        await conn.send_message("m1")
        await trio.sleep_forever()

    with trio.fail_after(60):
        async with (
            memory_server(late) as server,
            tether.connect(URL, config=Config(ping_interval=None), opener=server.opener) as session,
        ):
            with trio.move_on_after(2) as scope:
                await session.receive()
            assert scope.cancelled_caught and trio.current_time() == 2
            assert await session.receive() == "m1"
            assert trio.current_time() == 5
