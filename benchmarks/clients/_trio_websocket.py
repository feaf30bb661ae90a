"""trio-websocket 0.12 as a benchmark client, with defaults or tuned buffers.

Both variants set ``max_message_size`` to 2 MiB (the default, 1 MiB, is too tight for
the 1 MiB echoes); they differ only in ``message_queue_size`` and
``receive_buffer_size``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from clients._common import MAX_MESSAGE_BYTES, Bench, Meter, Params, emit_event
from clients._drivers import Link, Opener, benches, trio_both

BACKOFF_INITIAL = 0.5
"""Reference reconnect loop: first backoff ceiling after the immediate retry, seconds."""

BACKOFF_MAXIMUM = 30.0
"""Reference reconnect loop: largest backoff ceiling, seconds."""


def opener(tuning: tuple[int, int] | None) -> Opener:
    """An opener; ``tuning`` is (message_queue_size, receive_buffer_size) or ``None``
    for trio-websocket's defaults."""

    def open_ws(url: str) -> AbstractAsyncContextManager[WebSocketConnection]:
        if tuning is None:
            return open_websocket_url(url, max_message_size=MAX_MESSAGE_BYTES)
        queue_size, buffer_size = tuning
        return open_websocket_url(
            url,
            max_message_size=MAX_MESSAGE_BYTES,
            message_queue_size=queue_size,
            receive_buffer_size=buffer_size,
        )

    @asynccontextmanager
    async def open_link(url: str) -> AsyncIterator[Link]:
        async with open_ws(url) as ws:
            yield Link(
                send_text=ws.send_message,
                send_binary=ws.send_message,
                receive_text=ws.get_message,
                receive_binary=ws.get_message,
            )

    return open_link


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (1-based), as tether's defaults do.

    The first retry is immediate; then full jitter over an exponential ceiling
    (``BACKOFF_INITIAL * 2**(attempt-2)``, capped at ``BACKOFF_MAXIMUM``).
    """
    if attempt <= 1:
        return 0.0
    return rng.uniform(0.0, min(BACKOFF_MAXIMUM, BACKOFF_INITIAL * 2.0 ** (attempt - 2)))


def reconnect_bench(open_link: Opener) -> Bench:
    """The reference reconnect loop: reconnect on any error, report each greeting.

    Emits ``hello`` events (``instance``, ``t``) and reports the number of greetings.
    """

    async def reconnect(params: Params, meter: Meter) -> None:
        wanted = params.count + 1
        seen = 0
        attempt = 0
        rng = random.Random()
        while seen < wanted:
            try:
                async with open_link(params.url) as link:
                    attempt = 0
                    while seen < wanted:
                        message = await link.receive_text()
                        if isinstance(message, str) and message.startswith("hello "):
                            emit_event("hello", instance=int(message.split()[1]))
                            seen += 1
            except Exception:
                attempt += 1
                await trio.sleep(backoff_delay(attempt, rng))
        meter.report(float(seen))

    return reconnect


def all_benches(tuning: tuple[int, int] | None) -> dict[str, Bench]:
    """Every benchmark this client runs; ``tuning`` as for :func:`opener`."""
    open_link = opener(tuning)
    return {**benches(open_link, trio_both), "reconnect": reconnect_bench(open_link)}
