"""tether.cli._run: Ctrl-C in a ``tether`` subcommand, in this process (SIGINT sent to
ourselves; ``os._exit`` replaced). The first cancels the command, which then closes
gracefully; a second one during that close leaves at once with 130. A whole
``tether connect`` interrupted once: tests/cli/test_connect.py.
"""

from __future__ import annotations

import os
import signal

import pytest
import trio

from tether.cli._run import EXIT_INTERRUPTED, run_until_interrupted


class _Exited(BaseException):
    """What the replaced ``os._exit`` raises instead of ending the test process."""


def _interrupt() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_the_result_when_not_interrupted() -> None:
    async def command() -> int:
        await trio.lowlevel.checkpoint()
        return 7

    assert run_until_interrupted(command) == 7


def test_a_ctrl_c_cancels_the_command_which_closes_gracefully() -> None:
    said: list[str] = []

    async def command() -> None:
        try:
            _interrupt()
            await trio.sleep_forever()
        finally:
            said.append("closed")

    assert run_until_interrupted(command, lambda: said.append("interrupted")) is None
    assert said == ["interrupted", "closed"]
    assert run_until_interrupted(command) is None  # nothing to say first
    assert said == ["interrupted", "closed", "closed"]


def test_a_second_ctrl_c_during_the_graceful_close_leaves_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exits: list[int] = []
    left = trio.Event()

    def fake_exit(status: int) -> None:
        exits.append(status)
        left.set()  # the close below would otherwise take its whole time
        raise _Exited

    monkeypatch.setattr(os, "_exit", fake_exit)
    said: list[str] = []

    async def command() -> None:
        try:
            _interrupt()
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):  # a close handshake that takes long
                said.append("closing")
                _interrupt()
                await left.wait()

    with pytest.raises(BaseException) as raised:  # out of the watcher's nursery, in a group
        run_until_interrupted(command, lambda: said.append("interrupted"))
    assert raised.group_contains(_Exited)
    assert exits == [EXIT_INTERRUPTED]
    assert said == ["interrupted", "closing"]  # on_interrupt once: the second just leaves
