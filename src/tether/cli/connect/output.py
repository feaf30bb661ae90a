"""What ``tether connect`` writes: :class:`Status` lines on stderr (session events,
warnings, errors) and received messages on stdout (:class:`Output`: plain lines, or
JSON, compact when piped and pretty on a terminal). Colour through rich only when the
stream is a terminal and rich is installed.

On a terminal, :class:`Output` marks lines as wscat does: ``> `` for a message sent,
``< `` for one received, ``* `` for what the client itself says (command results,
pings); piped output is the received messages alone, unmarked. ``timestamps`` prefixes
every line, of both streams, with the local time (:func:`clock`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from tether.events import Event, GaveUp

from .._format import EVENT_STYLES, status_line

__all__ = ["ERASE_ECHO", "Output", "Status", "clock"]

#: Cursor up one line and clear it: removes the line the terminal echoed as it was
#: typed, as soon as it is read; its marked copy (``> text``) follows once it is sent.
ERASE_ECHO = "\x1b[1A\x1b[2K"


def clock() -> str:
    """The local time as ``HH:MM:SS.mmm`` (wall clock, for people to read)."""
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


def _rich_console(stream: IO[str]) -> Any:
    """A rich Console on ``stream`` if it is a terminal and rich is installed."""
    if not stream.isatty():
        return None
    try:
        from rich.console import Console
    except ImportError:  # pragma: no cover - rich is an optional dependency
        return None
    return Console(file=stream, highlight=False, soft_wrap=True)


class Status:
    """Status lines on stderr, ``tether: ...``: events (unless ``quiet``), warnings and
    errors. Coloured with rich when stderr is a terminal. ``gave_up``: the session's
    ``GaveUp`` event once it was seen (``None`` before), quiet or not."""

    _STYLES: Mapping[str, str] = {
        **EVENT_STYLES,
        "warning": "bold red",
        "error": "bold red",
    }

    def __init__(
        self,
        *,
        quiet: bool = False,
        stream: IO[str] | None = None,
        events: bool = True,
        timestamps: bool = False,
    ) -> None:
        self._stream = stream or sys.stderr
        self.quiet = quiet
        #: Print events (off under ``-v``, where the ``tether`` logger prints them).
        self.events = events
        self.timestamps = timestamps
        self._console = _rich_console(self._stream)
        #: The session's ``GaveUp`` event, once seen (quiet or not).
        self.gave_up: GaveUp | None = None

    def event(self, event: Event) -> None:
        """A session event (the ``on_event`` callback)."""
        if isinstance(event, GaveUp):
            self.gave_up = event
        if self.events and not self.quiet:
            self._line(status_line(event), type(event).__name__)

    def note(self, text: str) -> None:
        """What the client itself says (command results, pings), unless quiet."""
        if not self.quiet:
            self._line(text, "note")

    def warn(self, text: str) -> None:
        """A warning, printed even when quiet."""
        self._line(text, "warning")

    def error(self, text: str) -> None:
        """An error, printed even when quiet."""
        self._line(text, "error")

    def _line(self, text: str, kind: str) -> None:
        line = f"tether: {text}"
        if self.timestamps:
            line = f"{clock()} {line}"
        if self._console is not None:
            from rich.text import Text

            self._console.print(Text(line, style=self._STYLES.get(kind, "")))
            return
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(line + "\n")
            self._stream.flush()


class Output:
    """Received messages on stdout, one per line (pretty JSON spans several on a TTY).

    ``json``: each message is parsed as JSON and printed compact (``separators=(",",
    ":")``, one valid JSON value per line) when stdout is not a terminal, indented and
    coloured with rich when it is; a message that is not JSON is printed as a JSON
    string. Binary messages are printed in ``binary_format`` (``"hex"`` or
    ``"base64"``). Raises ``BrokenPipeError`` when the reader of stdout has gone.

    ``markers`` (default: whether the stream is a terminal): received lines start with
    ``< ``, :meth:`sent` prints sent ones with ``> ``, :meth:`note` the client's own
    with ``* ``; without markers :meth:`sent` prints nothing. ``erase_echo``: the
    terminal echoes each typed line, and :meth:`erase_typed` removes it once read.
    ``timestamps``: every line starts with :func:`clock`.
    """

    def __init__(
        self,
        *,
        json: bool = False,
        binary_format: str = "hex",
        stream: IO[str] | None = None,
        markers: bool | None = None,
        erase_echo: bool = False,
        timestamps: bool = False,
    ) -> None:
        self._stream = stream or sys.stdout
        self.markers = self._stream.isatty() if markers is None else markers
        self._erase_echo = erase_echo and self.markers
        self._timestamps = timestamps
        self._json = json
        self._binary_format = binary_format
        self._console = _rich_console(self._stream) if json else None

    def sent(self, message: str | bytes) -> None:
        """Show a message sent (on a terminal only)."""
        if self.markers:
            self._write_line(self._text(message), "> ")

    def erase_typed(self) -> None:
        """Remove the line the terminal just echoed (with ``erase_echo`` only), right
        after it was read, before anything else is printed below it."""
        if self._erase_echo:
            self._stream.write(ERASE_ECHO)
            self._stream.flush()

    def note(self, text: str) -> None:
        """A line of the client's own (command results, pings): ``* text``."""
        self._write_line(text, "* " if self.markers else "")

    def write(self, message: str | bytes) -> None:
        """Print one received message."""
        if not self._json:
            self._write_line(self._text(message), "< " if self.markers else "")
            return
        try:
            data = json.loads(message)
        except ValueError:
            data = self._text(message)
        if self._console is not None:
            if self.markers:
                stamp = f"{clock()} " if self._timestamps else ""
                self._stream.write(f"{stamp}<\n")
            self._console.print_json(data=data)
        elif self._stream.isatty():
            marker = "< " if self.markers else ""
            self._write_line(json.dumps(data, indent=2, ensure_ascii=False), marker)
        else:
            self._write_line(json.dumps(data, separators=(",", ":"), ensure_ascii=False))

    def _text(self, message: str | bytes) -> str:
        if isinstance(message, str):
            return message
        if self._binary_format == "base64":
            return base64.b64encode(message).decode("ascii")
        return message.hex()

    def _write_line(self, text: str, marker: str = "") -> None:
        stamp = f"{clock()} " if self._timestamps else ""
        self._stream.write(f"{stamp}{marker}{text}\n")
        self._stream.flush()
