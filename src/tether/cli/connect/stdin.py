"""stdin into the session for ``tether connect``: lines read with ``os.read`` in a Trio
worker thread (never blocking the event loop; the same for a pipe, a file and a
terminal, and no lock a thread abandoned at exit could hold), decoded
(:func:`decode_line`) and sent in order.

Flow::

    stdin --os.read in a worker thread--> lines channel --> session.send()   (in order)

A line is handed to ``session.send_nowait()`` while more lines are already queued behind
it and to ``await session.send()`` otherwise, so the last line read is on the wire
before the next read, and at end of input every line has been written.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable

import trio

import tether

from .options import ConnectOptions
from .output import Status

__all__ = ["decode_line", "read_lines", "send_lines", "stdin_to_session"]

#: Bytes asked of ``os.read`` at a time.
READ_SIZE = 65536
#: Lines read ahead of the one being sent (the session's send buffer comes after).
LINE_QUEUE = 64


def decode_line(
    raw: bytes, *, binary: bool = False, input_format: str = "hex"
) -> str | bytes | None:
    """The message for one stdin line (without its newline), or ``None`` for a blank
    line (skipped). Text lines are UTF-8 (invalid bytes become U+FFFD); ``binary`` lines
    are hex (spaces allowed) or base64. Raises ``ValueError`` for a bad binary line."""
    raw = raw.rstrip(b"\r")
    if not raw.strip():
        return None
    if not binary:
        return raw.decode("utf-8", errors="replace")
    if input_format == "base64":
        try:
            return base64.b64decode(raw.strip(), validate=True)
        except binascii.Error:
            raise ValueError("not valid base64") from None
    try:
        return bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("not valid hex") from None


async def read_lines(fd: int, channel: trio.MemorySendChannel[bytes]) -> None:
    """Send each line of ``fd`` (without ``\\n``) to ``channel``; close it at end of
    input. Reads with ``os.read`` in a worker thread (abandoned if cancelled)."""
    pending = b""
    async with channel:
        while True:
            try:
                chunk = await trio.to_thread.run_sync(
                    os.read, fd, READ_SIZE, abandon_on_cancel=True
                )
            except OSError:
                chunk = b""  # the terminal went away: treat as end of input
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                await channel.send(line)
        if pending:
            await channel.send(pending)


async def _send(session: tether.Session, message: str | bytes, more: bool, status: Status) -> None:
    if more:
        try:
            session.send_nowait(message)
            return
        except trio.WouldBlock:
            pass  # the buffer is full: wait for room below
    try:
        await session.send(message)
    except tether.SendBufferFull:
        status.warn("send buffer full (overflow = raise): a line was not sent")
    except tether.MessageDropped:
        status.warn("a line was evicted from the full send buffer (overflow = drop_oldest)")


async def send_lines(
    session: tether.Session,
    lines: trio.MemoryReceiveChannel[bytes],
    decode: Callable[[bytes], str | bytes | None],
    status: Status,
) -> None:
    """Send every line from ``lines``, in order, until the channel ends. Returns once the
    last one was written. Raises :class:`tether.SessionClosed` if the session ends."""
    async with lines:
        number = 0
        async for raw in lines:
            number += 1
            try:
                message = decode(raw)
            except ValueError as exc:
                status.warn(f"line {number} skipped: {exc}")
                continue
            if message is not None:
                more = lines.statistics().current_buffer_used > 0
                await _send(session, message, more, status)


async def stdin_to_session(
    session: tether.Session, options: ConnectOptions, status: Status
) -> None:
    def decode(raw: bytes) -> str | bytes | None:
        return decode_line(raw, binary=options.binary, input_format=options.input_format)

    send_channel, receive_channel = trio.open_memory_channel[bytes](LINE_QUEUE)
    failure: tether.SessionClosed | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_lines, options.stdin_fd, send_channel)
        try:
            await send_lines(session, receive_channel, decode, status)
        except tether.SessionClosed as exc:
            failure = exc
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
