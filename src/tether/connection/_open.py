"""Opening a client connection: the handshake (:class:`tether.protocol.ClientHandshake`)
over a stream an opener made, then the :class:`ClientConnection` with its reader
started. A refused handshake is mapped here, at the edge, to
:class:`tether.HandshakeRejected`, and an unoffered selection to
:class:`tether.IncompatibleServer`.
"""

from __future__ import annotations

import attrs
import trio

from ..config import Compression
from ..protocol import Accepted, ClientHandshake, DeflateOffer, HandshakeRefused, UnofferedSelection
from ._client import PRE_SERVE_BYTES, RECEIVE_BUFFER_SIZE, ClientConnection
from ._errors import rejection_error, unoffered_error
from ._protocol_log import protocol_log
from ._traffic import Traffic

__all__ = ["open_client"]

#: The reader task's name in Trio (what Trio would make of ``ClientConnection.read``).
READER_TASK_NAME = "tether.connection._client.ClientConnection.read"


async def open_client(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    host: str,
    resource: str,
    subprotocols: tuple[str, ...],
    extra_headers: list[tuple[bytes, bytes]],
    max_message_size: int,
    max_waiting_bytes: int = PRE_SERVE_BYTES,
    generation: int = 0,
    compression: Compression | None = None,
    traffic: Traffic | None = None,
) -> tuple[ClientConnection, Accepted]:
    """Run the opening handshake over ``stream``, then start the reader in ``nursery``.
    Returns the connection and what the server's acceptance said (subprotocol, headers).
    ``max_message_size`` and ``max_waiting_bytes`` (bytes) are
    :class:`ClientConnection`'s; ``generation`` labels the ``tether.protocol`` records.
    ``compression``: permessage-deflate is offered with
    these settings (RFC 7692), and used when the server agrees. ``traffic``: where the
    connection counts the bytes it writes and reads.

    Raises :class:`tether.HandshakeRejected` (non-101 answer),
    :class:`tether.IncompatibleServer` (a 101 that selected an extension or subprotocol
    we did not offer), ``HandshakeFailed`` (another invalid answer),
    ``ConnectionResetError`` (the server ended the stream first) or the transport's
    error. Cancellation: the caller closes the stream.
    """
    handshake = ClientHandshake(
        host=host,
        resource=resource,
        subprotocols=subprotocols,
        extra_headers=extra_headers,
        deflate=None if compression is None else DeflateOffer(**attrs.asdict(compression)),
    )
    log = protocol_log(generation)
    request = handshake.request()
    if log is not None:
        log.request(request)
    await stream.send_all(request)
    try:
        while True:
            accepted = handshake.receive(await stream.receive_some(RECEIVE_BUFFER_SIZE))
            if accepted is not None:
                break
    except HandshakeRefused as refused:
        if log is not None:
            log.response(refused.headers, refused.status_code)
        raise rejection_error(refused) from None
    except UnofferedSelection as selection:
        raise unoffered_error(selection) from None
    if log is not None:
        log.response(accepted.headers)
    connection = ClientConnection(
        stream,
        max_message_size=max_message_size,
        max_waiting_bytes=max_waiting_bytes,
        trailing=accepted.trailing,
        log=log,
        deflate=accepted.deflate,
        traffic=traffic,
    )
    # A constant name (the one Trio would make): Trio formats one per task otherwise, 90
    # bytes of every connection.
    nursery.start_soon(connection.read, name=READER_TASK_NAME)
    return connection, accepted
