"""The session's counters, read by ``Session.statistics()`` and by ``on_connect``'s
:class:`tether.Connection` (``last_message_at``, ``messages_received``)."""

from __future__ import annotations

from ..connection import Traffic
from ..events import LostReason

__all__ = ["Counters"]


class Counters:
    """Plain counters, updated in place by the parts that see each fact happen. Times
    are ``trio.current_time()`` seconds; durations are seconds."""

    __slots__ = (
        "attempts",
        "connected_since",
        "down_since",
        "downtime",
        "last_message_at",
        "last_rtt",
        "lost",
        "messages_received",
        "messages_sent",
        "traffic",
    )

    def __init__(self) -> None:
        #: Connect attempts, over the whole session.
        self.attempts = 0
        #: Connections lost, by reason.
        self.lost: dict[LostReason, int] = {}
        #: Messages written to a connection / handed to the receive buffer.
        self.messages_sent = 0
        self.messages_received = 0
        #: Round trip of the last answered ping, seconds.
        self.last_rtt: float | None = None
        #: When the last message arrived (any generation).
        self.last_message_at: float | None = None
        #: Since when the current generation is open, or since when none is.
        self.connected_since: float | None = None
        self.down_since: float | None = None
        #: Seconds without an open connection before ``down_since``.
        self.downtime = 0.0
        #: Bytes on the wire and uncompressed, every generation's.
        self.traffic = Traffic()

    def count_lost(self, reason: LostReason) -> None:
        self.lost[reason] = self.lost.get(reason, 0) + 1

    def connection_up(self, now: float) -> None:
        """A generation opened at ``now``."""
        self.connected_since = now
        if self.down_since is not None:
            self.downtime += now - self.down_since
            self.down_since = None

    def connection_down(self, now: float) -> None:
        """The open generation ended at ``now`` (no effect if none was open)."""
        if self.connected_since is not None:
            self.connected_since = None
            self.down_since = now

    def session_ended(self, now: float) -> None:
        """Stop the downtime clock for good."""
        self.connection_down(now)
        if self.down_since is not None:
            self.downtime += now - self.down_since
            self.down_since = None

    def downtime_at(self, now: float) -> float:
        """Seconds without an open connection so far, ``now`` included."""
        if self.down_since is None:
            return self.downtime
        return self.downtime + now - self.down_since
