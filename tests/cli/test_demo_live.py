"""``tether demo`` in a real terminal: tmux runs it in a 120x40 pane and the test reads
the screen with ``capture-pane``. About 10 s of real time. Plus Ctrl-C, over a pipe."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .support import TETHER

pytestmark = pytest.mark.loopback

#: Seconds the demo may take in the terminal before the test fails.
DEMO_TIMEOUT = 60.0


class Pane:
    """One tmux server (on a private socket) with one 120x40 pane running a command."""

    def __init__(self, name: str) -> None:
        self.tmux = ["tmux", "-L", name, "-f", "/dev/null"]

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [*self.tmux, *args], capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout

    def capture(self) -> str:
        """The pane's screen and its scrollback, as text."""
        return self.run("capture-pane", "-p", "-t", "demo", "-S", "-200")

    def wait_for(self, condition: Callable[[str], bool], timeout: float) -> str:
        """Poll the screen (every 0.1 s) until ``condition(screen)``; the screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal never showed what was expected:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def pane() -> Iterator[Pane]:
    pane = Pane(f"tether-test-{os.getpid()}")
    try:
        yield pane
    finally:
        subprocess.run([*pane.tmux, "kill-server"], capture_output=True, timeout=10, check=False)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_live_view_shows_state_generation_counters_and_timeline(pane: Pane, tmp_path: Path) -> None:
    demo = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", *TETHER, "demo", "--duration", "8"])
    command = f"{demo} --seed 3; echo EXIT=$?; sleep 600"
    pane.run("new-session", "-d", "-s", "demo", "-x", "120", "-y", "40", command)

    def reconnected_and_pinged(screen: str) -> bool:
        return bool(
            re.search(r"state OPEN +generation [2-9]", screen)
            and re.search(r"last RTT \d+\.\d\d ms", screen)
        )

    live = pane.wait_for(reconnected_and_pinged, DEMO_TIMEOUT)
    assert "╭" in live  # a rich panel, not plain lines
    assert "tether demo" in live
    assert re.search(r"sent \d+ +acked \d+ +echoed \d+ +in flight \d+ +lost -", live)
    assert re.search(r"resent \d+ +duplicates dropped \d+ +gaps 0 ", live)
    assert re.search(r"^│ g1 █+ +\d+\.\d\d s \w+", live, re.MULTILINE)  # the timeline
    assert "ConnectionLost" in live  # the event log

    final = pane.wait_for(lambda s: "EXIT=" in s, DEMO_TIMEOUT)
    (tmp_path / "capture.txt").write_text(final)
    assert "EXIT=0" in final
    assert re.search(r"state CLOSED +generation 6", final)
    assert re.search(r"lost 0 ", final)
    assert re.search(r"resent [1-9]\d* +duplicates dropped \d+ +gaps 0 ", final)  # the stall's
    assert len(re.findall(r"^│ g\d ", final, re.MULTILINE)) == 6
    assert re.search(r"^ +result +OK", final, re.MULTILINE)


def test_ctrl_c_stops_the_demo_with_130() -> None:
    demo = subprocess.Popen(
        [*TETHER, "demo", "--duration", "30", "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(DEMO_TIMEOUT, demo.kill)  # bounds the reading below
    watchdog.start()
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if "session open: generation 1" in line:
                break
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=DEMO_TIMEOUT) == 130
    finally:
        watchdog.cancel()
        demo.kill()
        demo.wait(timeout=10)
