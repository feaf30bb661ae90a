"""Issue 10, item 1: a hostile or careless ``Retry-After`` cannot end the session, turn
backoff off, or park the session for years (RFC 9110 section 10.2.3)."""

from __future__ import annotations

import random

import pytest
import trio

import tether
from tether import Backoff, Config, events
from tether.testing import memory_server

from ..helpers import EventLog

URL = "ws://tether.test/"
#: Backoff without jitter: attempt n >= 2 of an outage waits min(8, 1 * 2 ** (n - 2)).
BACKOFF = Backoff(initial=1, maximum=8, jitter=False)


def config(**fields: object) -> Config:
    return Config(ping_interval=None, backoff=BACKOFF, **fields)  # type: ignore[arg-type]


async def attempt_times(retry_after: str | None, attempts: int) -> list[float]:
    """Virtual times of ``attempts`` connect attempts against a server answering 503
    (with ``retry_after`` as its ``Retry-After``) until the session gives up."""
    log = EventLog()
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    async with memory_server() as server:
        server.reject(attempts, 503, headers)
        start = trio.current_time()
        with trio.fail_after(3600), pytest.raises(tether.ReconnectFailed) as failure:
            async with tether.connect(
                URL, config=config(max_attempts=attempts), opener=server.opener, on_event=log
            ):
                pass  # pragma: no cover - it never opens
    # The last error is the server's 503, never a parsing error.
    assert isinstance(failure.value.last_error, tether.HandshakeRejected)
    assert failure.value.last_error.status_code == 503
    return [event.at - start for event in log.of(events.Connecting)]


async def test_a_non_ascii_digit_is_ignored_not_fatal(autojump_clock: trio.abc.Clock) -> None:
    # Byte 0xB2 decodes (Latin-1) as "²", for which str.isdigit() is true.
    assert await attempt_times("\u00b2", 4) == [0, 1, 1 + 2, 1 + 2 + 4]


async def test_zero_keeps_the_backoff_schedule(autojump_clock: trio.abc.Clock) -> None:
    assert await attempt_times("0", 4) == [0, 1, 3, 7]
    assert await attempt_times(None, 4) == [0, 1, 3, 7]


async def test_a_date_in_the_past_keeps_the_backoff_schedule(
    autojump_clock: trio.abc.Clock,
) -> None:
    assert await attempt_times("Sun, 06 Nov 1994 08:49:37 GMT", 4) == [0, 1, 3, 7]


async def test_a_longer_delay_is_honoured(autojump_clock: trio.abc.Clock) -> None:
    # 7 s beats the backoff of every attempt here (1, 2, 4 s).
    assert await attempt_times("7", 4) == [0, 7, 14, 21]


async def test_a_huge_value_is_capped_and_the_event_says_so(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventLog()
    async with memory_server() as server:
        server.reject(1, 503, {"Retry-After": "99999999999"})
        start = trio.current_time()
        async with tether.connect(URL, config=config(), opener=server.opener, on_event=log):
            assert trio.current_time() - start == 300  # Backoff.retry_after_max
    [backing_off] = log.of(events.BackingOff)
    assert backing_off.delay == 300
    assert backing_off.retry_after == 99999999999


async def test_the_cap_is_a_backoff_field(autojump_clock: trio.abc.Clock) -> None:
    capped = Backoff(initial=1, maximum=8, jitter=False, retry_after_max=20)
    async with memory_server() as server:
        server.reject(1, 429, {"Retry-After": "3600"})
        start = trio.current_time()
        async with tether.connect(
            URL, config=Config(ping_interval=None, backoff=capped), opener=server.opener
        ):
            assert trio.current_time() - start == 20
    with pytest.raises(tether.ConfigError, match="retry_after_max"):
        Backoff(retry_after_max=-1)


async def test_retry_after_zero_makes_as_many_attempts_as_no_header(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The issue's figure, on the virtual clock: attempts in 3 s against a 503 server,
    default jittered backoff, the same seed with and without ``Retry-After: 0``."""

    async def attempts_in_3_s(headers: dict[str, str]) -> int:
        log = EventLog()
        async with memory_server() as server:
            server.reject(10_000, 503, headers)
            with trio.move_on_after(3):
                async with tether.connect(
                    URL,
                    config=Config(ping_interval=None),
                    opener=server.opener,
                    rng=random.Random(7),
                    on_event=log,
                ):
                    pass  # pragma: no cover - it never opens
        return len(log.of(events.Connecting))

    without_header = await attempts_in_3_s({})
    assert 3 <= without_header <= 8
    assert await attempts_in_3_s({"Retry-After": "0"}) == without_header
