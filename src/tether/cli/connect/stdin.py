"""stdin into the session for ``tether connect``: lines read with ``os.read`` in a Trio
worker thread (never blocking the event loop; the same for a pipe, a file and a
terminal, and no lock a thread abandoned at exit could hold), decoded
(:func:`decode_line`) and sent in order.

Flow::

    stdin --os.read in a worker thread--> lines channel --> session.send()   (in order)

A line is handed to ``session.send_nowait()`` while more lines are already queued behind
it and to ``await session.send()`` otherwise, so the last line read is on the wire
before the next read, and at end of input every line has been written. With
``commands``, a text line starting with ``/`` is run as a command
(:mod:`.commands`) instead, and ``//`` sends a literal ``/``.

The reader is started by the runner before the session opens, so it can tell when
stdin ended with nothing to send (:class:`StdinLines`).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable

import attrs
import trio

import tether

from .commands import Commands
from .options import ConnectOptions
from .output import Status

__all__ = ["StdinLines", "decode_line", "read_lines", "send_lines", "stdin_to_session"]

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


async def read_lines(
    fd: int,
    channel: trio.MemorySendChannel[bytes],
    on_line: Callable[[bytes], None] | None = None,
) -> None:
    """Send each line of ``fd`` (without ``\\n``) to ``channel``; close it at end of
    input. Reads with ``os.read`` in a worker thread (abandoned if cancelled).
    ``on_line(line)`` as each complete line is read."""
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
            if on_line is not None:
                for line in lines:
                    on_line(line)
            for line in lines:
                await channel.send(line)
        if pending:
            await channel.send(pending)


@attrs.define(eq=False)
class StdinLines:
    """stdin's lines, read from the start of the run into a bounded channel.

    ``ended`` is set at end of input; :attr:`nothing_to_send` then says whether no line
    waits in the channel (so an unreachable server has nothing left to be waited for).
    """

    fd: int
    send_channel: trio.MemorySendChannel[bytes]
    receive_channel: trio.MemoryReceiveChannel[bytes]
    on_line: Callable[[bytes], None] | None = None
    ended: trio.Event = attrs.Factory(trio.Event)

    @classmethod
    def open(cls, fd: int, on_line: Callable[[bytes], None] | None = None) -> StdinLines:
        """Lines of ``fd``; ``on_line(line)`` is called as each is read (before it
        waits to be sent)."""
        send_channel, receive_channel = trio.open_memory_channel[bytes](LINE_QUEUE)
        return cls(fd, send_channel, receive_channel, on_line)

    async def read(self) -> None:
        """Read stdin into the channel until its end (run as a task)."""
        try:
            await read_lines(self.fd, self.send_channel, self.on_line)
        finally:
            self.ended.set()

    @property
    def nothing_to_send(self) -> bool:
        """stdin has ended and no line of it is still waiting to be sent."""
        return self.ended.is_set() and self.receive_channel.statistics().current_buffer_used == 0


async def _send(session: tether.Session, message: str | bytes, more: bool, status: Status) -> bool:
    """Hand ``message`` to the session; ``False`` if the full buffer refused it.

    Under ``drop_oldest`` a line is never refused (older ones are evicted, with a
    ``MessagesDropped`` event), and the one awaited here cannot be evicted: lines are
    handed over one at a time, and the next only after this ``send()`` returned."""
    if more:
        try:
            session.send_nowait(message)
            return True
        except trio.WouldBlock:
            pass  # the buffer is full: wait for room below
    try:
        await session.send(message)
    except tether.SendBufferFull:
        status.warn("send buffer full (overflow = raise): a line was not sent")
        return False
    return True


async def send_lines(
    session: tether.Session,
    lines: trio.MemoryReceiveChannel[bytes],
    decode: Callable[[bytes], str | bytes | None],
    status: Status,
    commands: Commands | None = None,
    on_sent: Callable[[str | bytes], None] | None = None,
) -> None:
    """Send every line from ``lines``, in order, until the channel ends. Returns once the
    last one was written. Raises :class:`tether.SessionClosed` if the session ends.
    ``commands``: run text lines starting with ``/`` as commands; ``on_sent(message)``
    after each line sent (not for one the full buffer refused)."""
    async with lines:
        number = 0
        async for raw in lines:
            number += 1
            try:
                message = decode(raw)
            except ValueError as exc:
                status.warn(f"line {number} skipped: {exc}")
                continue
            if commands is not None and isinstance(message, str):
                literal = commands.literal(message)
                if literal is None:
                    await commands.run(message)
                    continue
                message = literal
            if message is not None:
                more = lines.statistics().current_buffer_used > 0
                if await _send(session, message, more, status) and on_sent is not None:
                    on_sent(message)


async def stdin_to_session(
    session: tether.Session,
    lines: StdinLines,
    options: ConnectOptions,
    status: Status,
    commands: Commands | None = None,
    on_sent: Callable[[str | bytes], None] | None = None,
) -> None:
    """Send stdin's lines (read by ``lines.read``, running) until its end. Raises
    :class:`tether.SessionClosed` if the session ends first."""

    def decode(raw: bytes) -> str | bytes | None:
        return decode_line(raw, binary=options.binary, input_format=options.input_format)

    await send_lines(session, lines.receive_channel, decode, status, commands, on_sent)
