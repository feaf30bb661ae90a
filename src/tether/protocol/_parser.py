"""The incremental parser of server-to-client frames (RFC 6455 section 5): bytes in,
complete messages and control frames out. It raises :class:`ProtocolViolation` (with
the close code to send) for anything RFC 6455 or RFC 7692 says a client must fail the
connection on.

A data frame's payload is taken in as it arrives, read by read: inflated when the
message is compressed (permessage-deflate, RFC 7692), and, for text, decoded by an
incremental UTF-8 decoder, so invalid UTF-8 fails the connection at the read that
brought it (RFC 6455 section 8.1: "fail fast"), not once the message is whole.

Section numbers below are RFC 6455's unless they say otherwise.
"""

from __future__ import annotations

import codecs
from typing import Any, Final

from ._close import INVALID_PAYLOAD, MESSAGE_TOO_BIG, PROTOCOL_ERROR, parse_close
from ._deflate import Inflater
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
_RSV1: Final = 0x40
_UTF8_DECODER: Final = codecs.getincrementaldecoder("utf-8")


def _invalid_utf8() -> ProtocolViolation:
    return ProtocolViolation(INVALID_PAYLOAD, "text message is not valid UTF-8")


class FrameParser:
    """Incremental parser of server-to-client frames (section 5).

    :meth:`feed` takes bytes as they arrive and returns what they completed. A data
    frame's payload is passed on as each read brings it (a binary message's pieces are
    joined once, when it is complete, so a 1 MiB message costs one copy, not one per
    read); :attr:`wanted` tells the reader how many more bytes the frame in progress
    needs. Fragmented messages are reassembled (section 5.4); control frames may arrive
    between fragments.

    ``max_message_size`` (bytes) bounds a whole message, fragments included, after
    decompression: an uncompressed one is refused from its frame header, before its
    payload is buffered, a compressed one while it inflates, after at most that many
    bytes of output (1009). Text must be valid UTF-8 (1007, section 8.1), checked read by
    read. ``inflater``: permessage-deflate was agreed (RFC 7692): RSV1 on a message's
    first frame means it is compressed. A masked frame (section 5.1), a reserved bit
    without an extension that defines it, an unknown opcode, a fragmented or oversized
    control frame, or a continuation out of place is a 1002.
    """

    __slots__ = (
        "_control",
        "_frame_first",
        "_frame_left",
        "_header",
        "_inflater",
        "_max_message_size",
        "_message_compressed",
        "_message_opcode",
        "_message_size",
        "_parts",
        "_text_decoder",
        "_wire_limit",
        "_wire_size",
    )

    def __init__(self, max_message_size: int, *, inflater: Inflater | None = None) -> None:
        self._max_message_size = max_message_size
        self._inflater = inflater
        #: The first bytes of a frame header still arriving.
        self._header = b""
        #: First byte of the frame whose payload is arriving, and its bytes still to come.
        self._frame_first = 0
        self._frame_left = 0
        #: A control frame's payload so far (a control frame is never passed on in pieces).
        self._control: bytes | None = None
        #: The data message in progress: its opcode (0: none), whether it is compressed,
        #: what it has so far (``bytes`` pieces, or ``str`` pieces for text) and their size
        #: in bytes (decompressed), and its bytes on the wire.
        self._message_opcode = 0
        self._message_compressed = False
        self._parts: list[Any] = []
        self._message_size = 0
        self._wire_size = 0
        self._text_decoder: codecs.IncrementalDecoder | None = None
        #: Wire bytes a compressed message may take: what its inflated size may be, plus
        #: deflate's worst-case expansion of stored blocks (5 bytes per 16 KiB, RFC 1951
        #: section 3.2.4, with room to spare) so a message of incompressible bytes fits.
        self._wire_limit = max_message_size + (max_message_size >> 12) + 64

    @property
    def inflater(self) -> Inflater | None:
        """The decompressor, when permessage-deflate was agreed."""
        return self._inflater

    @property
    def wanted(self) -> int:
        """Bytes still missing from the frame in progress (0 when none is)."""
        if self._frame_left:
            return self._frame_left
        header = self._header
        if not header:
            return 0
        if len(header) < 2:
            return 2 - len(header)
        length = header[1] & 0x7F
        return (4 if length == 126 else 10 if length == 127 else 2) - len(header)

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
        if self._header:
            data = self._header + data
            self._header = b""
        position = 0
        end = len(data)
        left = self._frame_left
        if left:
            if end < left:
                self._frame_left = left - end
                self._piece(data, completed, frame_end=False)
                return
            self._frame_left = 0
            self._piece(data if end == left else data[:left], completed, frame_end=True)
            position = left
        while end - position >= 2:
            first = data[position]
            second = data[position + 1]
            if second & 0x80:
                raise ProtocolViolation(PROTOCOL_ERROR, "the server masked a frame")
            opcode = first & 0x0F
            if first & 0x70:
                self._check_reserved_bits(first)
            if opcode not in _KNOWN_OPCODES:
                raise ProtocolViolation(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
            length = second & 0x7F
            start = position + 2
            if length >= 126:
                start += 2 if length == 126 else 8
                if start > end:
                    break
                length = int.from_bytes(data[position + 2 : start], "big")
                if length >> 63:
                    raise ProtocolViolation(PROTOCOL_ERROR, "frame length has its top bit set")
            if opcode >= OPCODE_CLOSE:
                if length > MAX_CONTROL_PAYLOAD:
                    raise ProtocolViolation(PROTOCOL_ERROR, "control frame over 125 bytes")
                if not first & 0x80:
                    raise ProtocolViolation(PROTOCOL_ERROR, "fragmented control frame")
            else:
                self._start_data_frame(first, length)
            stop = start + length
            if stop > end:
                # The payload is still arriving: take what came, wait for the rest.
                self._frame_first = first
                self._frame_left = stop - end
                if opcode >= OPCODE_CLOSE:
                    self._control = data[start:]
                else:
                    self._piece(data[start:], completed, frame_end=False)
                return
            payload = data[start:stop]
            position = stop
            if opcode >= OPCODE_CLOSE:
                self._control_frame(opcode, payload, completed)
            elif first & 0x80 and opcode:
                # The common case: a whole message in one frame.
                self._message_opcode = 0
                if self._message_compressed:
                    inflater = self._inflater
                    assert inflater is not None
                    payload = self._inflate_whole(inflater, payload)
                if opcode == OPCODE_BINARY:
                    completed.append(payload)
                else:
                    try:
                        completed.append(payload.decode("utf-8"))
                    except UnicodeDecodeError:
                        raise _invalid_utf8() from None
            else:
                self._frame_first = first
                self._piece(payload, completed, frame_end=True)
        if position < end:
            self._header = data[position:]

    def _inflate_whole(self, inflater: Inflater, payload: bytes) -> bytes:
        try:
            return inflater.inflate(payload, self._max_message_size, end=True)
        except ProtocolViolation as violation:
            raise self._named(violation) from None

    def _named(self, violation: ProtocolViolation) -> ProtocolViolation:
        """A 1009 from the inflater, with this parser's ``max_message_size`` named."""
        if violation.code == MESSAGE_TOO_BIG:
            return ProtocolViolation(
                MESSAGE_TOO_BIG,
                f"a compressed message inflates beyond max_message_size={self._max_message_size:,}",
            )
        return violation

    def _check_reserved_bits(self, first: int) -> None:
        """RSV1 marks a compressed message's first frame, where permessage-deflate was
        agreed (RFC 7692 section 6); every other reserved bit fails the connection."""
        if self._inflater is None:
            raise ProtocolViolation(PROTOCOL_ERROR, "reserved bits set, no extension agreed")
        if first & 0x30:
            raise ProtocolViolation(
                PROTOCOL_ERROR, "RSV2 or RSV3 set, which permessage-deflate does not define"
            )
        opcode = first & 0x0F
        if opcode == OPCODE_CONTINUATION:
            raise ProtocolViolation(
                PROTOCOL_ERROR, "RSV1 set on a continuation frame (RFC 7692 section 6.1)"
            )
        if opcode >= OPCODE_CLOSE:
            raise ProtocolViolation(
                PROTOCOL_ERROR, "RSV1 set on a control frame (RFC 7692 section 6.1)"
            )

    def _start_data_frame(self, first: int, length: int) -> None:
        """Check a data frame's place and size from its header; a text or binary frame
        opens a message."""
        opcode = first & 0x0F
        if opcode == OPCODE_CONTINUATION:
            if not self._message_opcode:
                raise ProtocolViolation(PROTOCOL_ERROR, "continuation frame without a message")
        else:
            if self._message_opcode:
                raise ProtocolViolation(PROTOCOL_ERROR, "new message inside a fragmented one")
            self._message_opcode = opcode
            self._message_compressed = bool(first & _RSV1)
            self._parts = []
            self._message_size = 0
            self._wire_size = 0
            self._text_decoder = None
        wire_size = self._wire_size + length
        self._wire_size = wire_size
        if self._message_compressed:
            if wire_size > self._wire_limit:
                raise ProtocolViolation(
                    MESSAGE_TOO_BIG,
                    f"a compressed message of at least {wire_size:,} bytes on the wire "
                    f"exceeds max_message_size={self._max_message_size:,}",
                )
        elif wire_size > self._max_message_size:
            # With FIN set this frame ends the message: its size is known exactly.
            raise ProtocolViolation(
                MESSAGE_TOO_BIG,
                f"a message of {'' if first & 0x80 else 'at least '}{wire_size:,} bytes "
                f"exceeds max_message_size={self._max_message_size:,}",
            )

    def _piece(self, piece: bytes, completed: list[Inbound], *, frame_end: bool) -> None:
        """Take the next payload bytes of the frame in progress; ``frame_end``: its last."""
        if self._control is not None:
            if frame_end:
                payload, self._control = self._control + piece, None
                self._control_frame(self._frame_first & 0x0F, payload, completed)
            else:
                self._control += piece
            return
        message_end = frame_end and bool(self._frame_first & 0x80)
        if self._message_compressed:
            inflater = self._inflater
            assert inflater is not None
            budget = self._max_message_size - self._message_size
            try:
                piece = inflater.inflate(piece, budget, end=message_end)
            except ProtocolViolation as violation:
                raise self._named(violation) from None
            self._message_size += len(piece)
        else:
            self._message_size += len(piece)
        if self._message_opcode == OPCODE_TEXT:
            decoder = self._text_decoder
            if decoder is None:
                decoder = self._text_decoder = _UTF8_DECODER()
            try:
                text = decoder.decode(piece, message_end)
            except UnicodeDecodeError:
                raise _invalid_utf8() from None
            if text:
                self._parts.append(text)
            if message_end:
                self._message_opcode = 0
                completed.append("".join(self._parts))
                self._parts = []
        else:
            if piece:
                self._parts.append(piece)
            if message_end:
                self._message_opcode = 0
                parts = self._parts
                completed.append(parts[0] if len(parts) == 1 else b"".join(parts))
                self._parts = []

    def _control_frame(self, opcode: int, payload: bytes, completed: list[Inbound]) -> None:
        if opcode == OPCODE_PING:
            completed.append(Ping(payload))
        elif opcode == OPCODE_PONG:
            completed.append(Pong(payload))
        else:
            completed.append(parse_close(payload))
