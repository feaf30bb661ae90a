"""Errors at the connection layer's edge: what its writes raise
(:class:`ConnectionClosed`), and the mapping of what happened below (the protocol
layer's values, trio's stream errors) to the errors tether's callers see.

* :func:`lost_error`: how an open connection ended, as a ``ConnectionLostError``.
* :func:`map_error`: trio's stream errors while connecting, as ``ConnectionResetError``.
* :func:`rejection_error`: the protocol layer's :class:`~tether.protocol.HandshakeRefused`
  as :class:`tether.HandshakeRejected`.
* :func:`unoffered_error`: a 101 that selected what we did not offer
  (:class:`~tether.protocol.UnofferedSelection`) as :class:`tether.IncompatibleServer`.
* :func:`tls_error`: a failed TLS handshake, named by its SSL error; one that read no
  TLS at all (a ``wss://`` URL for a plain server) as :class:`tether.IncompatibleServer`.
"""

from __future__ import annotations

import ssl
from typing import Final, Protocol

import trio

from ..events import LostReason
from ..exceptions import ConnectionLostError, HandshakeRejected, IncompatibleServer
from ..protocol import Close, HandshakeRefused, ProtocolViolation, UnofferedSelection

__all__ = [
    "ConnectionClosed",
    "EndedConnection",
    "lost_error",
    "map_error",
    "rejection_error",
    "tls_error",
    "unoffered_error",
]

#: OpenSSL reasons of a TLS handshake that read bytes that are not TLS at all, as when
#: a ``wss://`` URL reaches a plain HTTP or ``ws://`` server: its HTTP answer is not a
#: TLS record. A wrong scheme does not fix itself: :func:`tls_error` makes them fatal.
NOT_TLS_REASONS: Final = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG"})

#: The close code of a message over ``max_message_size`` (RFC 6455 section 7.4.1).
_MESSAGE_TOO_BIG: Final = 1009


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
    """Classify how an open connection ended. A message over ``max_message_size``
    (1009, which the default table does not retry) names the setting."""
    violation = connection.violation
    if violation is not None:
        detail = violation.reason
        if violation.code == _MESSAGE_TOO_BIG:  # ours: name the setting to raise
            detail += " (Config.max_message_size)"
        return ConnectionLostError(LostReason.PROTOCOL_ERROR, violation.code, detail)
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


def unoffered_error(selection: UnofferedSelection) -> IncompatibleServer:
    """The server selected an extension or subprotocol we did not offer: the same
    server will do so again, so this is :class:`tether.IncompatibleServer`."""
    return IncompatibleServer(str(selection))


def tls_error(error: ssl.SSLError) -> OSError | IncompatibleServer:
    """A TLS handshake that failed with ``error`` (not a certificate error), named by it:
    ``TLS handshake failed: [SSL: ...] ...``, with ``error`` as the ``__cause__``.

    If the server sent no TLS at all (:data:`NOT_TLS_REASONS`) it is a
    :class:`tether.IncompatibleServer` that asks whether the URL should be ``ws://``;
    any other failure is a ``ConnectionError``, retried like any connection error."""
    mapped: OSError | IncompatibleServer
    if error.reason in NOT_TLS_REASONS:
        mapped = IncompatibleServer(
            f"TLS handshake failed: {error} (is this a wss:// URL for a plain ws:// server?)"
        )
    else:
        mapped = ConnectionError(f"TLS handshake failed: {error}")
    mapped.__cause__ = error
    return mapped


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
