"""The Trio side of one WebSocket connection: openers that make the stream (TCP, TLS)
and the client connection that drives :mod:`tether.protocol` over it (the reader, the
ordered write turn, pings, the close handshake). It knows no session.
"""

from ._client import ClientConnection, ConnectionClosed, lost_error, map_error, open_client
from ._transport import Opener, TcpOpener, set_socket_options

__all__ = [
    "ClientConnection",
    "ConnectionClosed",
    "Opener",
    "TcpOpener",
    "lost_error",
    "map_error",
    "open_client",
    "set_socket_options",
]
