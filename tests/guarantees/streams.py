"""A stream wrapper whose writes a test can make misbehave at a chosen moment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from tether.testing import MemoryServer


class ScriptedStream(trio.abc.Stream):
    """Passes everything through to ``inner`` until the test arms it:

    * :meth:`cut_writes`: each later ``send_all`` writes the first half of its data,
      then waits until cancelled (a write cut off mid-frame).
    * :meth:`break_writes`: each later ``send_all`` writes nothing and waits for
      :meth:`release`, then raises ``trio.BrokenResourceError`` (a reset link).
    * :meth:`hold_writes`: each later ``send_all`` waits for :meth:`release`, then
      writes (a slow link that recovers).
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self._mode: str | None = None
        self._released = trio.Event()
        #: Calls to ``send_all`` that the armed mode took over.
        self.held = 0

    def cut_writes(self) -> None:
        self._mode = "cut"

    def break_writes(self) -> None:
        self._mode = "break"

    def hold_writes(self) -> None:
        self._mode = "hold"

    def release(self) -> None:
        self._released.set()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._mode == "cut":
            self.held += 1
            await self.inner.send_all(bytes(data)[: len(data) // 2])
            await trio.sleep_forever()
        if self._mode == "break":
            self.held += 1
            await self._released.wait()
            raise trio.BrokenResourceError("reset by the test")
        if self._mode == "hold" and not self._released.is_set():
            self.held += 1
            await self._released.wait()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


def scripted_opener(
    server: MemoryServer, streams: list[ScriptedStream]
) -> Callable[[str, int, bool], Awaitable[trio.abc.Stream]]:
    """An opener for ``server`` whose streams are :class:`ScriptedStream`, appended to
    ``streams`` as they are made."""

    async def opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
        stream = ScriptedStream(await server.opener(host, port, tls))
        streams.append(stream)
        return stream

    return opener
