"""The four throughput/memory benchmarks, written once over a minimal ``Link``.

A client module adapts its library to a :class:`Link` (the library's own bound
methods, so the adapter costs one attribute lookup) and gets the benchmarks from
:func:`benches`. The drivers are framework-neutral: the one place that needs two
concurrent tasks (streaming) takes a ``both`` helper, :func:`trio_both` or
:func:`asyncio_both`, which import their framework only when called.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import cast

from clients._common import WARMUP_ROUND_TRIPS, Bench, Meter, Params, rss_bytes

MIB = 1024 * 1024


def _as_is(message: object) -> str | bytes:
    return cast("str | bytes", message)


@dataclass(frozen=True)
class Link:
    """One open connection, seen through the library's own methods.

    ``receive_*`` may return the library's message object; only the last one of a
    section is checked (through ``payload``). ``send_text_nowait``, when given, is
    tried first while streaming and ``would_block`` is the exception that says
    "buffer full, fall back to ``send_text``".
    """

    send_text: Callable[[str], Awaitable[object]]
    send_binary: Callable[[bytes], Awaitable[object]]
    receive_text: Callable[[], Awaitable[object]]
    receive_binary: Callable[[], Awaitable[object]]
    payload: Callable[[object], str | bytes] = _as_is
    send_text_nowait: Callable[[str], object] | None = None
    would_block: type[BaseException] = BlockingIOError


Opener = Callable[[str], AbstractAsyncContextManager[Link]]
"""Opens a connection to a URL; the context manager closes it."""

Both = Callable[[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]], Awaitable[None]]
"""Runs two coroutine functions concurrently and returns when both are done."""


def _check(link: Link, message: object, expected: str | bytes) -> None:
    got = link.payload(message)
    if got != expected:
        raise AssertionError(f"echo mismatch: got {len(got)} bytes/chars, sent {len(expected)}")


async def _warm_up(link: Link, text: str) -> None:
    for _ in range(WARMUP_ROUND_TRIPS):
        await link.send_text(text)
        await link.receive_text()


async def round_trip(open_link: Opener, params: Params, meter: Meter) -> None:
    """``count`` sequential echoes of a ``size``-byte text message; reports msgs/s."""
    text = "x" * params.size
    async with open_link(params.url) as link:
        await _warm_up(link, text)
        send, receive = link.send_text, link.receive_text
        message: object = None
        with meter.section():
            for _ in range(params.count):
                await send(text)
                message = await receive()
        _check(link, message, text)
        meter.report(params.count / meter.elapsed_s)


async def stream(open_link: Opener, both: Both, params: Params, meter: Meter) -> None:
    """``count`` pipelined text messages: one task sends, one counts echoes; msgs/s."""
    text = "x" * params.size
    count = params.count
    async with open_link(params.url) as link:
        await _warm_up(link, text)
        last: list[object] = [None]

        async def sender() -> None:
            send, nowait = link.send_text, link.send_text_nowait
            if nowait is None:
                for _ in range(count):
                    await send(text)
                return
            would_block = link.would_block
            for _ in range(count):
                try:
                    nowait(text)
                except would_block:
                    await send(text)

        async def receiver() -> None:
            receive = link.receive_text
            message: object = None
            for _ in range(count):
                message = await receive()
            last[0] = message

        with meter.section():
            await both(sender, receiver)
        _check(link, last[0], text)
        meter.report(count / meter.elapsed_s)


async def large(open_link: Opener, params: Params, meter: Meter) -> None:
    """``count`` sequential echoes of a ``size``-byte binary message; reports MiB/s.

    MiB/s counts payload one way: ``count * size / MiB / seconds``.
    """
    blob = os.urandom(params.size)
    async with open_link(params.url) as link:
        for _ in range(2):
            await link.send_binary(blob)
            await link.receive_binary()
        send, receive = link.send_binary, link.receive_binary
        message: object = None
        with meter.section():
            for _ in range(params.count):
                await send(blob)
                message = await receive()
        _check(link, message, blob)
        meter.report(params.count * params.size / MIB / meter.elapsed_s)


async def idle(open_link: Opener, params: Params, meter: Meter) -> None:
    """Open ``count`` idle connections; reports RSS growth per connection in KiB.

    One connection is opened first so lazy imports and first-use buffers are in the
    baseline. RSS is read from /proc after ``gc.collect()``; tracemalloc is not used
    (it slows the run and misses memory allocated by C code such as picows).
    """
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(open_link(params.url))
        gc.collect()
        before = rss_bytes()
        with meter.section():
            for _ in range(params.count):
                await stack.enter_async_context(open_link(params.url))
        gc.collect()
        after = rss_bytes()
        meter.report(
            (after - before) / params.count / 1024,
            rss_before_mib=before / MIB,
            rss_after_mib=after / MIB,
        )


def benches(open_link: Opener, both: Both) -> dict[str, Bench]:
    """The four benchmarks bound to one client's opener."""
    return {
        "round_trip": partial(round_trip, open_link),
        "stream": partial(stream, open_link, both),
        "large": partial(large, open_link),
        "idle": partial(idle, open_link),
    }


async def trio_both(
    first: Callable[[], Awaitable[None]], second: Callable[[], Awaitable[None]]
) -> None:
    """:data:`Both` for trio (imported lazily so asyncio clients never load trio)."""
    import trio

    async with trio.open_nursery() as nursery:
        nursery.start_soon(first)
        await second()


async def asyncio_both(
    first: Callable[[], Awaitable[None]], second: Callable[[], Awaitable[None]]
) -> None:
    """:data:`Both` for asyncio."""
    import asyncio

    await asyncio.gather(first(), second())
