"""The event hub survives the cycle collector freeing an abandoned subscription while
it delivers an event (a weakref callback changes its subscribers mid-loop)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tether.events import Closed, Connecting
from tether.session._event_hub import EventHub


class _Cycle:
    """An object in a reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.itself = self


@pytest.fixture
def collector_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*saved)


async def test_emit_and_close_while_the_collector_frees_subscriptions(
    collector_thresholds: None,
) -> None:
    # For each offset, the collector is made to run at that allocation inside emit();
    # 100 abandoned streams in cycles are freed then, and their callbacks unsubscribe.
    for offset in range(1, 300):
        hub = EventHub(None)
        held = [hub.subscribe(1000, ended=False) for _ in range(20)]
        gc.collect()
        gc.set_threshold(10**6)
        for _ in range(100):
            cycle = _Cycle()
            cycle.stream = hub.subscribe(1000, ended=False)  # type: ignore[attr-defined]
        del cycle
        gc.set_threshold(gc.get_count()[0] + offset)
        hub.emit(Connecting, 1, attempt=1, url="ws://h/")
        hub.emit(Closed, 1, code=1000, reason="")
        hub.close()
        gc.set_threshold(700, 10, 10)
        assert hub.subscribers == 0
        assert [stream.receive_nowait().__class__ for stream in held[:1]] == [Connecting]
