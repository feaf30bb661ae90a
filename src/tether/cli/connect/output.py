"""What ``tether connect`` writes: :class:`Status` lines on stderr (session events,
warnings, errors) and received messages on stdout (:class:`Output`: plain lines, or
JSON, compact when piped and pretty on a terminal). Colour through rich only when the
stream is a terminal and rich is installed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
from collections.abc import Mapping
from typing import IO, Any

from tether.events import Event, GaveUp

from .._format import EVENT_STYLES, status_line

__all__ = ["Output", "Status"]


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

    def __init__(self, *, quiet: bool = False, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stderr
        self.quiet = quiet
        self._console = _rich_console(self._stream)
        #: The session's ``GaveUp`` event, once seen (quiet or not).
        self.gave_up: GaveUp | None = None

    def event(self, event: Event) -> None:
        """A session event (the ``on_event`` callback)."""
        if isinstance(event, GaveUp):
            self.gave_up = event
        if not self.quiet:
            self._line(status_line(event), type(event).__name__)

    def warn(self, text: str) -> None:
        """A warning, printed even when quiet."""
        self._line(text, "warning")

    def error(self, text: str) -> None:
        """An error, printed even when quiet."""
        self._line(text, "error")

    def _line(self, text: str, kind: str) -> None:
        line = f"tether: {text}"
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
    """

    def __init__(
        self, *, json: bool = False, binary_format: str = "hex", stream: IO[str] | None = None
    ) -> None:
        self._stream = stream or sys.stdout
        self._json = json
        self._binary_format = binary_format
        self._console = _rich_console(self._stream) if json else None

    def write(self, message: str | bytes) -> None:
        """Print one received message."""
        if not self._json:
            self._write_line(self._text(message))
            return
        try:
            data = json.loads(message)
        except ValueError:
            data = self._text(message)
        if self._console is not None:
            self._console.print_json(data=data)
        elif self._stream.isatty():
            self._write_line(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            self._write_line(json.dumps(data, separators=(",", ":"), ensure_ascii=False))

    def _text(self, message: str | bytes) -> str:
        if isinstance(message, str):
            return message
        if self._binary_format == "base64":
            return base64.b64encode(message).decode("ascii")
        return message.hex()

    def _write_line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()
