"""The Trio side of one WebSocket connection: openers that make the stream (TCP, TLS)
and the client connection that drives :mod:`tether.protocol` over it (the reader, the
ordered write turn, pings, the close handshake). It knows no session.

Modules: ``_transport`` (openers, socket options), ``_open`` (:func:`open_client`: the
handshake, then the connection), ``_client`` (:class:`ClientConnection`),
``_socket_read`` (the reader's non-blocking socket read), ``_errors`` (what the layer
raises, and the mapping of protocol and transport errors to tether's at its edge).
"""

from ._client import ClientConnection, PingWaiter
from ._errors import ConnectionClosed, lost_error, map_error, rejection_error
from ._open import open_client
from ._traffic import Traffic
from ._transport import Opener, TcpOpener, UnixOpener, set_socket_options

__all__ = [
    "ClientConnection",
    "ConnectionClosed",
    "Opener",
    "PingWaiter",
    "TcpOpener",
    "Traffic",
    "UnixOpener",
    "lost_error",
    "map_error",
    "open_client",
    "rejection_error",
    "set_socket_options",
]
