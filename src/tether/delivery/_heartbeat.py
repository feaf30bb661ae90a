"""Application-level heartbeats (issue 13, item 3): the dialect's ping every
``interval`` seconds on the open connection, its reply expected within ``timeout``
seconds. A missing reply is judged by the session as a missing WebSocket pong is
(``Session.heartbeat_missed``): a message that arrived since, or a reader waiting for
the application, proves the peer alive; otherwise the connection is lost with
``LostReason.PING_TIMEOUT`` and the session reconnects.

The heartbeat task runs beside the hand-on and take-in tasks. Each generation's
``on_connect`` hook hands it that connection's :class:`tether.Connection`
(:meth:`Heartbeat.connected`); the task writes heartbeats with ``Connection.send`` on
that connection only, so a heartbeat is never buffered for a later one. The take-in
task reports replies (:meth:`Heartbeat.replied`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import trio

from ..exceptions import ConfigError, ConnectionLostError
from ..session import Connection, Session
from ._dialect import Dialect

__all__ = ["DEFAULT_HEARTBEAT_TIMEOUT", "Heartbeat", "check_seconds"]

#: Seconds a heartbeat's reply may take by default: 20 s, as ``Config.ping_timeout``
#: (a WebSocket pong), so that a dead link is noticed on the same scale either way.
DEFAULT_HEARTBEAT_TIMEOUT = 20.0


def check_seconds(name: str, value: float | None) -> float | None:
    """``value`` as float seconds (> 0, finite) or ``None``; else ``ConfigError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}: must be seconds or None, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name}: must be > 0 and finite seconds, got {value!r}")
    return float(value)


class Heartbeat:
    """The heartbeat of one :class:`tether.delivery.Delivery` (see the module
    docstring). ``interval``/``timeout`` are seconds or ``None`` (no heartbeats / no
    timeout: heartbeats are sent, replies recorded, a missing one held against no
    one)."""

    __slots__ = (
        "_changed",
        "_conn",
        "_dialect",
        "_encode",
        "_ended",
        "_last_sequence",
        "_number",
        "_since",
        "answered_at",
        "interval",
        "last_rtt",
        "replies",
        "sent",
        "sent_at",
        "timeout",
    )

    def __init__(
        self,
        dialect: Dialect,
        *,
        interval: float | None,
        timeout: float | None,
        encode: Callable[[Any], Any],
        last_sequence: Callable[[], int | None],
    ) -> None:
        self._dialect = dialect
        self._encode = encode
        self._last_sequence = last_sequence
        self.interval = interval
        self.timeout = timeout
        #: Wakes the task: a new connection, a reply, new settings, the end.
        self._changed = trio.lowlevel.ParkingLot()
        self._conn: Connection | None = None
        self._since = 0.0
        self._number = 0
        self._ended = False
        #: When the heartbeat waiting for its reply was sent (``None``: none waits).
        self.sent_at: float | None = None
        #: When its reply came (``None``: not yet).
        self.answered_at: float | None = None
        self.sent = 0
        self.replies = 0
        self.last_rtt: float | None = None

    def set(self, interval: float | None, timeout: float | None) -> None:
        """New settings, from the next heartbeat on (the one due is rescheduled: an
        ``interval`` after the last reply, or after the connection opened)."""
        self.interval = interval
        self.timeout = timeout
        self._changed.unpark_all()

    def connected(self, conn: Connection) -> None:
        """A new connection is ready (its ``on_connect`` hook is done): beat on it; the
        first heartbeat goes ``interval`` seconds from now."""
        self._conn = conn
        self._since = trio.current_time()
        self._number = 0
        self._changed.unpark_all()

    def replied(self) -> None:
        """The take-in task saw a heartbeat reply: it answers the heartbeat waiting for
        one, if any (a late reply to one already judged is only counted)."""
        self.replies += 1
        if self.sent_at is not None and self.answered_at is None:
            self.answered_at = trio.current_time()
            self._changed.unpark_all()

    def end(self) -> None:
        """The session has ended: the task returns."""
        self._ended = True
        self._changed.unpark_all()

    async def run(self, session: Session) -> None:
        """The heartbeat task: beat on each connection handed over, until the end."""
        while not self._ended:
            conn = self._conn
            if conn is None:
                await self._changed.park()
                continue
            await self._beat_on(session, conn)
            if self._conn is conn:
                self._conn = None  # that connection is over; wait for the next one

    def _settle(self) -> float | None:
        """The heartbeat waits no more: when its reply came (``None``: it did not)."""
        answered, self.sent_at = self.answered_at, None
        return answered

    async def _wait_until(self, deadline: float) -> None:
        with trio.move_on_at(deadline):
            await self._changed.park()

    async def _beat_on(self, session: Session, conn: Connection) -> None:
        """Heartbeats on ``conn`` until it ends, is replaced, or misses a reply."""
        base = self._since  # the next heartbeat is due an interval after this
        while not self._ended and self._conn is conn:
            interval = self.interval
            now = trio.current_time()
            if interval is None or now < base + interval:
                await self._wait_until(math.inf if interval is None else base + interval)
                continue
            message = self._dialect.heartbeat(self._number + 1, self._last_sequence())
            if message is None:
                base = now
                continue
            self._number += 1
            raw = self._encode(message)
            timeout = self.timeout
            deadline = math.inf if timeout is None else now + timeout
            self.sent_at, self.answered_at = now, None  # a reply may come before send returns
            try:
                # The write counts against the timeout, as the pinger's does: a write
                # that cannot go out in time gets no reply in time either.
                with trio.move_on_at(deadline) as cut:
                    await conn.send(raw)
            except ConnectionLostError:
                self.sent_at = None
                return
            if not cut.cancelled_caught:
                self.sent += 1
            while self.answered_at is None and self._conn is conn and not self._ended:
                if trio.current_time() >= deadline:
                    break
                await self._wait_until(deadline)
            answered = self._settle()
            if answered is not None:
                self.last_rtt = answered - now
                base = answered
                continue
            if self._ended or self._conn is not conn:
                return
            if session.heartbeat_missed(
                conn.generation, now, f"no heartbeat reply within {timeout} s"
            ):
                return
            base = trio.current_time()  # the peer proved alive: try again an interval on
