"""The connection's own I/O on a plain TCP socket: the reader's read (wait until it is
readable, then one non-blocking ``os.read`` of its descriptor) and the write turn's
write (one non-blocking ``os.write``, waiting for writability only when the kernel's
buffer is full).

:meth:`ClientConnection.read <tether.connection.ClientConnection.read>` uses it instead
of ``SocketStream.receive_some``: an idle reader parks in one short call chain (1.5 KiB
less per idle connection), and a read costs no extra pass of Trio's scheduler (one of
about four per round trip).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import trio

__all__ = ["read_socket", "write_socket"]


async def read_socket(socket: trio.socket.SocketType, size: int, drained: bool) -> bytes:
    """Up to ``size`` bytes from ``socket`` (``b""`` at end of stream): wait until it is
    readable (at once if the last read filled its buffer: more is likely waiting, and
    then only a checkpoint), then one non-blocking ``os.read`` of its descriptor.
    Raises ``trio.ClosedResourceError`` once the socket is closed: its descriptor number
    may already belong to another socket, so it is never read after that."""
    while True:
        if socket.fileno() == -1:  # closed while this task was runnable
            raise trio.ClosedResourceError("the socket was closed")
        if drained:
            await trio.lowlevel.wait_readable(socket)
        else:
            await trio.lowlevel.checkpoint()
        descriptor = socket.fileno()
        if descriptor == -1:
            raise trio.ClosedResourceError("the socket was closed")
        try:
            return os.read(descriptor, size)
        except BlockingIOError:
            drained = True


async def write_socket(stream: trio.SocketStream, parts: Sequence[bytes | bytearray]) -> None:
    """``stream.send_all`` of each of ``parts`` in order, each first with one
    non-blocking ``os.write``: writes the kernel takes whole cost no call through the
    stream's layers, and one scheduling point (shielded) in all. The caller has just
    checked for cancellation (nothing runs in between). Raises
    ``trio.BrokenResourceError`` when the peer is gone and ``trio.ClosedResourceError``
    once the socket is closed, as ``send_all`` does; what the kernel did not take goes
    through ``send_all``, which waits for writability."""
    descriptor = stream.socket.fileno()
    if descriptor == -1:
        raise trio.ClosedResourceError("the socket was closed")
    for index, part in enumerate(parts):
        try:
            written = os.write(descriptor, part)
        except BlockingIOError:
            written = 0
        except OSError as error:
            raise trio.BrokenResourceError(f"socket connection broken: {error}") from error
        if written < len(part):
            with memoryview(part) as view:
                await stream.send_all(view[written:])
            for rest in parts[index + 1 :]:
                await stream.send_all(rest)
            return
    await trio.lowlevel.cancel_shielded_checkpoint()
