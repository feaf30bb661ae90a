"""``tether connect``'s in-session commands, typed on a terminal: a line starting with
``/`` is a command, ``//`` sends a literal ``/``.

``/ping`` (a WebSocket ping on the current connection, its round trip shown),
``/reconnect``, ``/rotate`` (``Session.rotate()``, make-before-break), ``/close [CODE
[REASON]]``, ``/stats`` (``Session.statistics()``), ``/help``. Results are printed with
``note`` (``* `` lines on a terminal).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import attrs
import trio

import tether

__all__ = ["HELP", "Commands"]


def _shown(name: str, value: object) -> str:
    """A statistics field for people: enums by value, seconds rounded, the
    ``connected_since`` time on Trio's clock as how long ago."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{getattr(k, 'value', k)}={v}" for k, v in value.items()) or "-"
    if name == "connected_since" and isinstance(value, float):
        return f"{trio.current_time() - value:.3f} s ago"
    if name == "last_rtt" and isinstance(value, float):
        return f"{value * 1000:.2f} ms"
    if isinstance(value, float):
        return f"{value:.3f} s"
    return str(getattr(value, "value", value))


HELP = (
    "/ping: send a WebSocket ping, show the round trip",
    "/reconnect: drop this connection and open a new one",
    "/rotate: open a new connection, then close this one (no downtime)",
    "/close [CODE [REASON]]: close the session (default 1000) and exit",
    "/stats: the session's statistics",
    "/help: this list; //text sends '/text'",
)

#: Seconds /ping waits for its pong when the session's ping_timeout is off.
PING_WAIT = 10.0


@attrs.define
class Commands:
    """The commands of one session. ``connection``: the handle ``on_connect`` got last
    (set by the runner), the one ``/ping`` pings."""

    session: tether.Session
    note: Callable[[str], None]
    connection: tether.Connection | None = None

    @staticmethod
    def literal(line: str) -> str | None:
        """The message a line stands for: ``None`` if it is a command, the line with
        one ``/`` removed if it starts with ``//``, else the line itself."""
        if line.startswith("//"):
            return line[1:]
        if line.startswith("/"):
            return None
        return line

    async def run(self, line: str) -> None:
        """Run one command line (starting with ``/``)."""
        name, _, rest = line[1:].strip().partition(" ")
        handler = {
            "ping": self._ping,
            "reconnect": self._reconnect,
            "rotate": self._rotate,
            "close": self._close,
            "stats": self._stats,
            "help": self._help,
        }.get(name)
        if handler is None:
            self.note(f"unknown command /{name} (/help lists them; // sends a literal /)")
            return
        await handler(rest.strip())

    async def _ping(self, _: str) -> None:
        connection = self.connection
        if connection is None or connection.generation != self.session.generation:
            self.note("ping: not connected")
            return
        wait = self.session.config.ping_timeout or PING_WAIT
        with trio.move_on_after(wait):
            try:
                rtt = await connection.ping()
            except tether.ConnectionLostError as error:
                self.note(f"ping: the connection was lost ({error.reason.value})")
                return
            self.note(f"pong: round trip {rtt * 1000:.2f} ms (generation {connection.generation})")
            return
        self.note(f"ping: no pong within {wait:g} s")

    async def _reconnect(self, _: str) -> None:
        self.session.reconnect("/reconnect")

    async def _rotate(self, _: str) -> None:
        # Its events say how it went: Rotated, or RotationFailed with the error.
        with contextlib.suppress(tether.RotationFailedError):
            await self.session.rotate()

    async def _close(self, arguments: str) -> None:
        code_text, _, reason = arguments.partition(" ")
        try:
            code = int(code_text) if code_text else 1000
        except ValueError:
            self.note(f"close: not a close code: {code_text!r}")
            return
        try:
            await self.session.aclose(code, reason.strip())
        except tether.ConfigError as error:
            self.note(f"close: {error}")

    async def _stats(self, _: str) -> None:
        stats = self.session.statistics()
        for field in attrs.fields(type(stats)):
            self.note(f"{field.name}: {_shown(field.name, getattr(stats, field.name))}")

    async def _help(self, _: str) -> None:
        for line in HELP:
            self.note(line)
