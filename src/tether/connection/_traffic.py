"""Bytes a session moved: on the wire (frames, headers included, after the opening
handshake) and the same traffic uncompressed (what it would have been without
permessage-deflate), in each direction. One :class:`Traffic` per session, added to by
each generation's connection as it writes and reads."""

from __future__ import annotations

__all__ = ["Traffic"]


class Traffic:
    """Byte counters, updated in place by :class:`~tether.connection.ClientConnection`.

    Attributes (bytes): ``wire_sent``, ``wire_received``: frames written and read;
    ``uncompressed_sent``, ``uncompressed_received``: the same frames with every
    compressed payload counted at its uncompressed size (equal to the wire counts when
    nothing was compressed)."""

    __slots__ = ("uncompressed_received", "uncompressed_sent", "wire_received", "wire_sent")

    def __init__(self) -> None:
        self.wire_sent = 0
        self.wire_received = 0
        self.uncompressed_sent = 0
        self.uncompressed_received = 0
