"""Test-suite wide configuration.

tether's own pytest plugin is opted in here exactly as a user's ``conftest.py`` would
(its fixtures: ``tether_server``, ``tether_session``, ``tether_config``,
``tether_handler``, ``tether_events``); ``pytester`` runs a separate pytest in the
plugin's own tests.

Every async test runs under ``trio.fail_after``, so a regression that makes a test
wait forever fails it instead of hanging the suite: on the virtual clock
(``autojump_clock``) a deadlock jumps straight to the deadline,
``VIRTUAL_TIME_LIMIT`` virtual seconds; on the real clock the bound is
``REAL_TIME_LIMIT`` seconds. ``@pytest.mark.time_limit(seconds)`` sets another bound.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import trio

pytest_plugins = ["tether.testing.pytest_plugin", "pytester"]

#: Virtual seconds an autojump-clock test may take (the soak test runs one hour).
VIRTUAL_TIME_LIMIT = 3 * 3600.0
#: Real seconds any other async test may take.
REAL_TIME_LIMIT = 120.0


def _bounded(
    test: Callable[..., Coroutine[Any, Any, Any]], seconds: float
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(test)
    async def bounded(*args: Any, **kwargs: Any) -> Any:
        with trio.fail_after(seconds):
            return await test(*args, **kwargs)

    return bounded


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        test = getattr(item, "obj", None)
        if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(test):
            continue
        marker = item.get_closest_marker("time_limit")
        if marker is not None:
            seconds = float(marker.args[0])
        elif "autojump_clock" in item.fixturenames:
            seconds = VIRTUAL_TIME_LIMIT
        else:
            seconds = REAL_TIME_LIMIT
        item.obj = _bounded(test, seconds)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_developer(monkeypatch: pytest.MonkeyPatch) -> None:
    """``connect()`` reads ``*_proxy`` variables by default: a proxy set on the machine
    running the suite must not route the tests' loopback connections through it."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
