"""``session.statistics()``: a frozen snapshot of a session's counters."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .events import LostReason
from .state import State

__all__ = ["Statistics"]


@attrs.frozen(kw_only=True)
class Statistics:
    """Counters since the session started. Times are ``trio.current_time()`` seconds.

    Attributes:
        state: the session state now.
        generation: open connections so far (the current one's number while open).
        attempts: connect attempts started, successful or not.
        reconnects: generations opened after the first (``generation - 1``).
        lost: how many generations ended, by :class:`tether.events.LostReason`.
        messages_sent: messages written to a connection, by ``send()``/``send_nowait()``
            or by ``on_connect`` (``Connection.send()``).
        messages_received: messages read off a connection: delivered, still buffered, or
            read by ``on_connect`` (``Connection.receive()``).
        messages_dropped: buffered messages discarded unwritten (``MessagesDropped``).
        send_buffered: messages waiting in the send buffer now.
        send_buffered_bytes: their size in bytes (``len()`` of each encoded message;
            bounded by ``Config.send_buffer_bytes``).
        receive_buffered: messages waiting for ``receive()`` now.
        receive_buffered_bytes: their size in bytes (``len()`` of each; bounded by
            ``Config.receive_buffer_bytes``).
        last_rtt: round-trip time of the latest answered ping, seconds, or ``None``.
        connected_since: when the current generation opened, or ``None`` if none is open.
        downtime: seconds spent without an open connection since the first one opened.
        events_dropped: events not delivered to a subscriber whose buffer was full.
        event_subscribers: ``events()`` subscriptions live now (neither closed nor
            garbage).
        bytes_sent, bytes_received: bytes of WebSocket frames written and read, over
            every generation (headers included; the opening handshakes are not).
        bytes_sent_uncompressed, bytes_received_uncompressed: the same frames with each
            permessage-deflate payload counted at its uncompressed size (RFC 7692); equal
            to ``bytes_sent``/``bytes_received`` when nothing was compressed, so the
            ratio of the two is what compression saved.
    """

    state: State
    generation: int
    attempts: int
    reconnects: int
    lost: Mapping[LostReason, int]
    messages_sent: int
    messages_received: int
    messages_dropped: int
    send_buffered: int
    send_buffered_bytes: int
    receive_buffered: int
    receive_buffered_bytes: int
    last_rtt: float | None
    connected_since: float | None
    downtime: float
    events_dropped: int
    event_subscribers: int
    bytes_sent: int = 0
    bytes_received: int = 0
    bytes_sent_uncompressed: int = 0
    bytes_received_uncompressed: int = 0
