"""Running a ``tether`` subcommand in Trio with a graceful Ctrl-C.

The first SIGINT cancels the command's scope: whatever it was doing unwinds through
Trio's cancellation, so an open session sends its Close frame (1001, bounded by
``close_timeout``) and a proxy closes its sockets. A second SIGINT ends the process at
once with status 130.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import trio

__all__ = ["EXIT_INTERRUPTED", "run_until_interrupted"]

T = TypeVar("T")

#: Exit status after Ctrl-C (128 + SIGINT, the shell convention).
EXIT_INTERRUPTED = 130


def run_until_interrupted(
    fn: Callable[[], Awaitable[T]], on_interrupt: Callable[[], None] | None = None
) -> T | None:
    """``trio.run(fn)``; returns its result, or ``None`` if Ctrl-C cancelled it.

    ``on_interrupt()`` is called (synchronously, in Trio) on the first Ctrl-C, before
    the cancellation: print what is happening there.
    """
    return trio.run(_run, fn, on_interrupt)


async def _run(fn: Callable[[], Awaitable[T]], on_interrupt: Callable[[], None] | None) -> T | None:
    scope = trio.CancelScope()
    result: T | None = None
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch, signals, scope, on_interrupt)
            with scope:
                result = await fn()
            nursery.cancel_scope.cancel()
    return None if scope.cancel_called else result


async def _watch(
    signals: AsyncIterator[int],
    scope: trio.CancelScope,
    on_interrupt: Callable[[], None] | None,
) -> None:
    async for _ in signals:
        if scope.cancel_called:
            _exit_now()
        if on_interrupt is not None:
            on_interrupt()
        scope.cancel()


def _exit_now() -> None:
    """Second Ctrl-C: leave at once, without waiting for a graceful close."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(EXIT_INTERRUPTED)
