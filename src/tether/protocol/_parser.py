"""The incremental parser of server-to-client frames (RFC 6455 section 5): bytes in,
complete messages and control frames out. It raises :class:`ProtocolViolation` (with
the close code to send) for anything RFC 6455 says a client must fail the connection
on. No extension is ever negotiated, so the reserved bits must be clear.

Section numbers below are RFC 6455's.
"""

from __future__ import annotations

from typing import Final

from ._close import INVALID_PAYLOAD, MESSAGE_TOO_BIG, PROTOCOL_ERROR, parse_close
from ._events import Inbound, Ping, Pong, ProtocolViolation
from ._opcodes import (
    MAX_CONTROL_PAYLOAD,
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
)

__all__ = ["FrameParser"]

_KNOWN_OPCODES: Final = frozenset(
    {OPCODE_CONTINUATION, OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG}
)


class FrameParser:
    """Incremental parser of server-to-client frames (section 5).

    :meth:`feed` takes bytes as they arrive and returns what they completed. A frame
    split across reads is kept as a list of chunks and joined once, when complete (its
    payload alone, once the header is known), so a 1 MiB message costs one copy, not one
    per read; :attr:`wanted` tells the reader how many more bytes that needs. Fragmented
    messages are reassembled (section 5.4); control frames may arrive between fragments.

    ``max_message_size`` (bytes) bounds a whole message, fragments included; a larger one
    is refused from its frame header, before its payload is buffered (1009). Text must be
    valid UTF-8 (1007, section 8.1). A masked frame (section 5.1), reserved bits without
    an extension, an unknown opcode, a fragmented or oversized control frame, or a
    continuation out of place is a 1002.
    """

    __slots__ = (
        "_chunks",
        "_chunks_size",
        "_fragments",
        "_fragments_opcode",
        "_fragments_size",
        "_max_message_size",
        "_need",
        "_pending_header",
    )

    def __init__(self, max_message_size: int) -> None:
        self._max_message_size = max_message_size
        self._chunks: list[bytes] = []
        self._chunks_size = 0
        self._need = 0
        #: First byte and payload length of a frame whose payload is still arriving.
        self._pending_header: tuple[int, int] | None = None
        self._fragments: list[bytes] | None = None
        self._fragments_opcode = 0
        self._fragments_size = 0

    @property
    def wanted(self) -> int:
        """Bytes still missing from the frame in progress (0 when none is)."""
        return self._need - self._chunks_size if self._chunks else 0

    def feed(self, data: bytes | bytearray) -> list[Inbound]:
        """Parse ``data`` (the next bytes from the server). Returns the messages and
        control frames it completed, in order; binary messages are always ``bytes``.
        Raises :class:`ProtocolViolation`, whose ``completed`` holds what came before the
        bad frame."""
        completed: list[Inbound] = []
        try:
            self._feed(bytes(data) if type(data) is not bytes else data, completed)
        except ProtocolViolation as violation:
            violation.completed = completed
            raise
        return completed

    def _feed(self, data: bytes, completed: list[Inbound]) -> None:
        chunks = self._chunks
        if chunks:
            chunks.append(data)
            self._chunks_size += len(data)
            if self._chunks_size < self._need:
                return
            data = b"".join(chunks)
            chunks.clear()
            self._chunks_size = 0
            pending = self._pending_header
            if pending is not None:
                self._pending_header = None
                first, length = pending
                if len(data) == length:
                    payload, data = data, b""
                else:
                    payload, data = data[:length], data[length:]
                self._complete(completed, first, payload)
        position = 0
        end = len(data)
        while end - position >= 2:
            first = data[position]
            second = data[position + 1]
            if second & 0x80:
                raise ProtocolViolation(PROTOCOL_ERROR, "the server masked a frame")
            if first & 0x70:
                raise ProtocolViolation(PROTOCOL_ERROR, "reserved bits set, no extension agreed")
            if first & 0x0F not in _KNOWN_OPCODES:
                raise ProtocolViolation(PROTOCOL_ERROR, f"unknown opcode {first & 0x0F:#x}")
            length = second & 0x7F
            start = position + 2
            if length >= 126:
                start += 2 if length == 126 else 8
                if start > end:
                    break
                length = int.from_bytes(data[position + 2 : start], "big")
                if length >> 63:
                    raise ProtocolViolation(PROTOCOL_ERROR, "frame length has its top bit set")
            if first & 0x0F >= OPCODE_CLOSE:
                if length > MAX_CONTROL_PAYLOAD:
                    raise ProtocolViolation(PROTOCOL_ERROR, "control frame over 125 bytes")
            elif length + self._fragments_size > self._max_message_size:
                # With FIN set this frame ends the message: its size is known exactly.
                size = length + self._fragments_size
                raise ProtocolViolation(
                    MESSAGE_TOO_BIG,
                    f"a message of {'' if first & 0x80 else 'at least '}{size:,} bytes "
                    f"exceeds max_message_size={self._max_message_size:,}",
                )
            stop = start + length
            if stop > end:
                self._pending_header = (first, length)
                rest = data[start:]
                chunks.append(rest)
                self._chunks_size = len(rest)
                self._need = length
                return
            self._complete(completed, first, data[start:stop])
            position = stop
        if position < end:
            rest = data[position:]
            chunks.append(rest)
            self._chunks_size = len(rest)
            self._need = 2 if len(rest) < 2 else 4 if rest[1] & 0x7F == 126 else 10
        return

    def _complete(self, completed: list[Inbound], first: int, payload: bytes) -> None:
        """Act on one whole frame: append what it completes to ``completed``."""
        opcode = first & 0x0F
        fin = first & 0x80
        if opcode in (OPCODE_TEXT, OPCODE_BINARY):
            if self._fragments is not None:
                raise ProtocolViolation(PROTOCOL_ERROR, "new message inside a fragmented one")
            if fin:
                completed.append(_decode(opcode, payload))
                return
            self._fragments = [payload]
            self._fragments_opcode = opcode
            self._fragments_size = len(payload)
            return
        if opcode == OPCODE_CONTINUATION:
            fragments = self._fragments
            if fragments is None:
                raise ProtocolViolation(PROTOCOL_ERROR, "continuation frame without a message")
            fragments.append(payload)
            self._fragments_size += len(payload)
            if fin:
                self._fragments = None
                self._fragments_size = 0
                completed.append(_decode(self._fragments_opcode, b"".join(fragments)))
            return
        if not fin:
            raise ProtocolViolation(PROTOCOL_ERROR, "fragmented control frame")
        if opcode == OPCODE_PING:
            completed.append(Ping(payload))
        elif opcode == OPCODE_PONG:
            completed.append(Pong(payload))
        else:
            completed.append(parse_close(payload))


def _decode(opcode: int, payload: bytes) -> str | bytes:
    if opcode == OPCODE_BINARY:
        return payload
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation(INVALID_PAYLOAD, "text message is not valid UTF-8") from None
