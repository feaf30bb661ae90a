"""Errors at the connection layer's edge: what its writes raise
(:class:`ConnectionClosed`), and the mapping of what happened below (the protocol
layer's values, trio's stream errors) to the errors tether's callers see.

* :func:`lost_error`: how an open connection ended, as a ``ConnectionLostError``.
* :func:`map_error`: trio's stream errors while connecting, as ``ConnectionResetError``.
* :func:`rejection_error`: the protocol layer's :class:`~tether.protocol.HandshakeRefused`
  as :class:`tether.HandshakeRejected`.
"""

from __future__ import annotations

from typing import Final, Protocol

import trio

from ..events import LostReason
from ..exceptions import ConnectionLostError, HandshakeRejected
from ..protocol import Close, HandshakeRefused, ProtocolViolation

__all__ = [
    "ConnectionClosed",
    "EndedConnection",
    "lost_error",
    "map_error",
    "rejection_error",
]


class ConnectionClosed(Exception):
    """Raised by writes once the connection is closing or closed; :func:`lost_error`
    says how it ended."""


class EndedConnection(Protocol):
    """What :func:`lost_error` reads of a connection (a
    :class:`~tether.connection.ClientConnection`)."""

    @property
    def violation(self) -> ProtocolViolation | None: ...
    @property
    def close_received(self) -> Close | None: ...
    @property
    def broken(self) -> str | None: ...


def lost_error(connection: EndedConnection) -> ConnectionLostError:
    """Classify how an open connection ended."""
    violation = connection.violation
    if violation is not None:
        return ConnectionLostError(LostReason.PROTOCOL_ERROR, violation.code, violation.reason)
    close = connection.close_received
    if close is not None:
        return ConnectionLostError(
            LostReason.PEER_CLOSED,
            close.code,
            close.reason or _CLOSE_CODE_NAMES.get(close.code, ""),
        )
    return ConnectionLostError(
        LostReason.TRANSPORT_ERROR, 1006, connection.broken or "stream ended without a Close frame"
    )


def map_error(error: BaseException) -> BaseException:
    """Map a transport error raised while connecting to one the retry policy classifies
    (trio's stream errors are not ``OSError``)."""
    if isinstance(error, (trio.BrokenResourceError, trio.ClosedResourceError)):
        reset = ConnectionResetError(f"connection broke while connecting: {error!r}")
        reset.__cause__ = error
        return reset
    return error


def rejection_error(refused: HandshakeRefused) -> HandshakeRejected:
    """The server's non-101 answer as the public :class:`tether.HandshakeRejected`
    (same status code, lower-cased ``str`` headers, body and whether it was cut)."""
    return HandshakeRejected(
        refused.status_code,
        refused.headers,
        refused.body,
        body_truncated=refused.body_truncated,
    )


#: Names for the close codes of RFC 6455 section 7.4.1 and the IANA registry, used as
#: the detail of a Close that came without a reason.
_CLOSE_CODE_NAMES: Final = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status code",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
}
