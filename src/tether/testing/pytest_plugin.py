"""pytest fixtures for testing code that uses tether, on trio's virtual clock.

Opt in from a ``conftest.py`` (the plugin is not registered automatically)::

    pytest_plugins = ["tether.testing.pytest_plugin"]

It needs pytest-trio (``trio_mode = true``, or ``@pytest.mark.trio`` on each test) and
provides:

``tether_server``
    A running :func:`tether.testing.memory_server` (a :class:`~tether.testing.MemoryServer`)
    with the handler from ``tether_handler`` (default :func:`tether.testing.echo`). It
    depends on pytest-trio's ``autojump_clock``, and a test that uses it runs on that
    clock even when it does not ask for ``autojump_clock`` itself (see
    :func:`pytest_runtest_call`): every timeout, backoff and fault happens in virtual
    time, at once. Ask for ``autojump_clock`` too when the test wants the clock object.
``tether_session``
    A :class:`tether.Session` connected to ``tether_server`` at ``ws://tether.test/``
    with ``tether_config``, recording into ``tether_events``; closed (``aclose()``)
    after the test.
``tether_config``
    The :class:`tether.Config` for ``tether_session``: ``tether.Config()`` unless
    overridden by a fixture of the same name in a test module or ``conftest.py``.
``tether_handler``
    The server's handler (override it to serve something other than an echo).
``tether_events``
    An :class:`EventRecorder` that ``tether_session`` reports every event to, from
    its first ``Connecting`` on.

Example::

    async def test_reconnects(tether_server, tether_session, tether_events):
        tether_server.drop()
        with trio.fail_after(60):  # virtual seconds
            await tether_events.wait_count(tether.events.Connected, 2)
            await tether_session.send("hi")
            assert await tether_session.receive() == "hi"
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, TypeVar

import pytest
import trio
from trio.testing import MockClock

import tether
from tether import events

from ._handlers import Handler, echo
from ._memory_server import MemoryServer, memory_server

__all__ = [
    "URL",
    "EventRecorder",
    "pytest_runtest_call",
    "tether_config",
    "tether_events",
    "tether_handler",
    "tether_server",
    "tether_session",
]

#: The URL ``tether_session`` connects to (any host works with the memory server).
URL = "ws://tether.test/"

E = TypeVar("E", bound=events.Event)


class EventRecorder:
    """Records every event of a session, in order, from the first ``Connecting`` on.

    Pass it as ``tether.connect(..., on_event=recorder)`` (``tether_session`` does).
    Query with :meth:`of` and :meth:`kinds`; wait with :meth:`wait_for` and
    :meth:`wait_count`, which wake on each new event (they never poll) and have no
    timeout of their own. Bound them with ``trio.fail_after``: under ``autojump_clock``
    a wait that never ends does not hang, it spins through virtual time (the session's
    pings and backoffs keep the clock moving), and a virtual bound fails at once.

    Attributes:
        items: every event recorded so far, oldest first.
    """

    def __init__(self) -> None:
        self.items: list[events.Event] = []
        self._lot = trio.lowlevel.ParkingLot()

    def __call__(self, event: events.Event) -> None:
        self.items.append(event)
        self._lot.unpark_all()

    def of(self, kind: type[E]) -> list[E]:
        """The recorded events of type ``kind`` (subclasses included), in order."""
        return [event for event in self.items if isinstance(event, kind)]

    def kinds(self) -> list[str]:
        """The class name of every recorded event, in order: ``["Connecting", ...]``."""
        return [type(event).__name__ for event in self.items]

    async def wait_for(self, predicate: Callable[[list[events.Event]], bool]) -> None:
        """Wait until ``predicate(recorder.items)`` is true (checked at once, then after
        every new event). No timeout of its own (see the class); cancelling it is
        safe."""
        await trio.lowlevel.checkpoint()
        while not predicate(self.items):
            await self._lot.park()

    async def wait_count(self, kind: type[E], count: int) -> E:
        """Wait until ``count`` events of type ``kind`` were recorded; return the
        ``count``-th (1-based), e.g. ``await rec.wait_count(Connected, 2)`` is the second
        ``Connected``. No timeout of its own (see the class); cancelling it is safe."""
        await self.wait_for(lambda items: sum(isinstance(e, kind) for e in items) >= count)
        return self.of(kind)[count - 1]


# ------------------------------------------------------------------------ fixtures


@pytest.fixture
def tether_config() -> tether.Config:
    """The session configuration of ``tether_session``; override to change it."""
    return tether.Config()


@pytest.fixture
def tether_handler() -> Handler:
    """The memory server's connection handler; override to serve something else."""
    return echo


@pytest.fixture
def tether_events() -> EventRecorder:
    """The :class:`EventRecorder` ``tether_session`` reports its events to."""
    return EventRecorder()


@pytest.fixture
async def tether_server(
    autojump_clock: MockClock, tether_handler: Handler
) -> AsyncIterator[MemoryServer]:
    """A running in-memory WebSocket server on the virtual clock."""
    clock = trio.lowlevel.current_clock()
    if clock is not autojump_clock:
        raise RuntimeError(
            "tether_server must run on pytest-trio's autojump_clock, but this test runs "
            f"on {clock!r} (is another clock fixture, such as mock_clock, in use?)"
        )
    async with memory_server(tether_handler) as server:
        yield server


@pytest.fixture
async def tether_session(
    tether_server: MemoryServer, tether_config: tether.Config, tether_events: EventRecorder
) -> AsyncIterator[tether.Session]:
    """A session connected to ``tether_server``; closed after the test."""
    async with tether.connect(
        URL, opener=tether_server.opener, config=tether_config, on_event=tether_events
    ) as session:
        yield session


# --------------------------------------------------------------------------- hooks


def _run_on(default_clock: MockClock) -> Callable[..., Any]:
    """A ``trio.run`` for pytest-trio's ``trio(run=...)`` marker that uses
    ``default_clock`` when the test itself asked for no clock."""

    def run(
        async_fn: Callable[[], Any], *, clock: trio.abc.Clock | None = None, **kwargs: Any
    ) -> Any:
        return trio.run(async_fn, clock=clock or default_clock, **kwargs)

    return run


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Run a test that uses ``tether_server`` on the ``autojump_clock`` it depends on.

    pytest-trio passes ``trio.run`` only the clock fixtures the test function names
    itself, so a test that asks for ``tether_session`` alone would otherwise run on the
    real clock. This puts a ``trio(run=...)`` marker (pytest-trio's documented way to
    choose the runner) in front of the test's others; a clock the test names itself
    still wins. Runs before pytest-trio's own ``pytest_runtest_call``, which reads it.
    """
    funcargs = getattr(item, "funcargs", {})
    clock = funcargs.get("autojump_clock")
    if (
        "tether_server" in funcargs
        and isinstance(clock, MockClock)
        and item.get_closest_marker("trio") is not None
    ):
        item.add_marker(pytest.mark.trio(run=_run_on(clock)), append=False)
    return (yield)
