"""``tether`` in a real pseudo-terminal (the stdlib ``pty`` module): stdin, stdout and
stderr are the terminal, as when a person runs it. :meth:`Terminal.expect` waits for a
pattern on the screen, bounded by :data:`support.TIMEOUT`; nothing sleeps.

The screen is the terminal's output with the two cursor movements tether writes
applied (:data:`tether.cli.connect.output.ERASE_ECHO` removes the line above, the one
the terminal echoed as it was typed) and every other escape sequence (colours)
removed: what a person sees, line by line.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import signal
import subprocess
from collections.abc import Sequence

import trio

from tether.cli.connect.output import ERASE_ECHO

from .support import TETHER, TIMEOUT, tether_env

_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def render(raw: str) -> str:
    """The screen text of a terminal output ``raw`` (see the module docstring)."""
    lines: list[str] = []
    current = ""
    for piece in re.split(r"(\r?\n|\x1b\[1A\x1b\[2K)", raw):
        if piece in ("\n", "\r\n"):
            lines.append(current)
            current = ""
        elif piece == ERASE_ECHO:
            if lines:
                lines.pop()
        else:
            current += _ESCAPE.sub("", piece).replace("\r", "")
    return "\n".join([*lines, current]) if current else "\n".join(lines) + "\n" * bool(lines)


class Terminal:
    """``python -m tether ARGS`` on a pseudo-terminal of 120 columns."""

    def __init__(self, args: Sequence[str]) -> None:
        self.args = list(args)
        self.raw = ""
        self._master = -1
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        master, slave = pty.openpty()
        with contextlib.suppress(OSError):
            import fcntl
            import struct
            import termios

            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.process = subprocess.Popen(
            [*TETHER, *self.args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=tether_env(),
            start_new_session=True,
        )
        os.close(slave)
        os.set_blocking(master, False)
        self._master = master

    @property
    def screen(self) -> str:
        return render(self.raw)

    def type(self, line: str) -> None:
        """Type ``line`` and Enter."""
        os.write(self._master, line.encode() + b"\r")

    async def _read(self) -> bool:
        """Read what is there (waiting for it); ``False`` at the terminal's end."""
        await trio.lowlevel.wait_readable(self._master)
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: every process holding the terminal has gone
            return False
        self.raw += data.decode("utf-8", errors="replace")
        return bool(data)

    async def expect(self, pattern: str, count: int = 1) -> list[re.Match[str]]:
        """Wait until ``pattern`` (a regex, multiline) matches ``count`` times on the
        screen; the matches."""
        regex = re.compile(pattern, re.MULTILINE)
        with trio.fail_after(TIMEOUT):
            while True:
                found = list(regex.finditer(self.screen))
                if len(found) >= count:
                    return found
                if not await self._read():
                    raise AssertionError(f"{pattern!r} never appeared:\n{self.screen}")

    async def wait(self) -> int:
        """Read to the end; the exit status."""
        assert self.process is not None
        with trio.fail_after(TIMEOUT):
            while await self._read():
                pass
            return await trio.to_thread.run_sync(self.process.wait)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM first: under coverage (pyproject.toml, sigterm = true) the process
            # writes its data before it dies.
            for stop in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, stop)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=5)
                    break
        if self._master >= 0:
            os.close(self._master)
            self._master = -1
